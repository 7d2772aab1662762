"""Reviews of restricted security incidents are restricted exactly like the incident: 404 on
every endpoint and absent from every list and export for those who may not see it."""

from datetime import date

import pytest

from pir import services
from pir.models import PostIncidentReview
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
DUE = date(2026, 4, 1)


@pytest.fixture
def secret(resolved):
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander", "security"])
    incident, _ = resolved("P1", ic=ic, security=True, title="Leaked credentials")
    pir = incident.pir
    item = services.action_item_create(
        actor=ic, pir_id=pir.pk, action="Rotate", priority="P1", owner=ic, due_date=DUE
    )
    entry = pir.entries.first()
    return pir, item, entry, ic


def _endpoints(pir, item, entry):
    base = f"/api/v1/pirs/{pir.pk}"
    return [
        ("get", f"{base}/", None),
        ("patch", f"{base}/", {"summary": "x"}),
        ("post", f"{base}/transition/", {"to": "in_review"}),
        ("get", f"{base}/timeline/", None),
        ("post", f"{base}/timeline/", {"occurred_at": "2026-01-01T00:00:00Z", "text": "x"}),
        ("patch", f"{base}/timeline/{entry.pk}/", {"text": "x"}),
        ("delete", f"{base}/timeline/{entry.pk}/", None),
        ("get", f"{base}/agenda/", None),
        ("get", f"{base}/pdf/", None),
        ("get", f"{base}/markdown/", None),
        ("get", f"{base}/action-items/", None),
        (
            "post",
            f"{base}/action-items/",
            {
                "action": "x",
                "priority": "P1",
                "owner": item.owner.username,
                "due_date": "2026-04-01",
            },
        ),
        ("get", f"{base}/action-items/{item.pk}/", None),
        ("patch", f"{base}/action-items/{item.pk}/", {"status": "done"}),
        ("delete", f"{base}/action-items/{item.pk}/", None),
    ]


def test_every_endpoint_is_404_to_others(secret, api, responder, sre_lead):
    pir, item, entry, _ic = secret
    for user in (responder, sre_lead):
        client = api(user)
        for method, url, data in _endpoints(pir, item, entry):
            response = getattr(client, method)(url, data, format="json")
            assert response.status_code == 404, (user.username, method, url, response.status_code)
        assert client.get(f"/api/v1/pirs/?incident={pir.incident_id}").json()["count"] == 0
        assert client.get("/api/v1/pirs/").json()["count"] == 0
        assert client.get("/api/v1/pirs/action-items/").json()["count"] == 0
        assert client.get("/api/v1/pirs/action-items/metrics/").json()["overall"]["total"] == 0
        assert "Rotate" not in client.get("/api/v1/pirs/action-items/csv/").content.decode()
        assert client.get("/api/v1/pirs/action-items/jira/").json()["projects"][0]["issues"] == []
        created = client.post("/api/v1/pirs/", {"incident": pir.incident_id}, format="json")
        assert created.status_code == 404
    item.refresh_from_db()
    assert item.status == "open"
    assert PostIncidentReview.objects.get(pk=pir.pk).summary == ""


def test_those_who_may_see_the_incident_see_its_review(secret, api, security_user):
    pir, _item, _entry, ic = secret
    for user in (ic, security_user):
        client = api(user)
        assert client.get(f"/api/v1/pirs/{pir.pk}/").status_code == 200
        assert client.get(f"/api/v1/pirs/{pir.pk}/pdf/").status_code == 200
        listed = client.get(f"/api/v1/pirs/?incident={pir.incident_id}").json()
        assert [r["id"] for r in listed["results"]] == [pir.pk]
        assert {"id", "incident", "status", "due_at"} <= set(listed["results"][0])


def test_the_page_and_admin_are_404_to_others(secret, client, sre_lead):
    pir, item, _entry, _ic = secret
    client.force_login(sre_lead)
    assert client.get(f"/pirs/{pir.pk}/").status_code == 404
    assert client.get(f"/admin/pir/postincidentreview/{pir.pk}/change/").status_code == 404
    assert client.get(f"/admin/pir/actionitem/{item.pk}/change/").status_code == 404
    listing = client.get("/admin/pir/postincidentreview/")
    assert listing.status_code == 200
    assert "Leaked credentials" not in listing.content.decode()


def test_anonymous_gets_nothing(secret, api):
    pir, *_ = secret
    assert api().get("/api/v1/pirs/").status_code == 401
    assert api().get(f"/api/v1/pirs/{pir.pk}/pdf/").status_code == 401
