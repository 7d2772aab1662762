"""`POST /api/v1/integrations/` (contract: SRE lead, `{kind, name}` → `{id, url, secret}`),
the list without secrets, and rotating a secret."""

import pytest

from integrations.models import Integration

from .conftest import load

pytestmark = pytest.mark.django_db


def test_sre_lead_creates_an_integration_and_senders_post_to_its_url(
    api, sre_lead, client, catalog
):
    response = api(sre_lead).post(
        "/api/v1/integrations/", {"kind": "alertmanager", "name": "prod"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert list(body)[:3] == ["id", "url", "secret"]
    integration = Integration.objects.get(pk=body["id"])
    assert body["url"].endswith(f"/integrations/{integration.pk}/alerts/")
    assert integration.secret_hash != body["secret"]  # only a digest is kept
    assert body["secret"] not in str(Integration.objects.values().get())

    path = body["url"].split("127.0.0.1:8000")[-1]
    posted = client.post(
        path,
        load("alertmanager_firing"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {body['secret']}",
    )
    assert posted.status_code == 202


def test_options_can_be_given_at_creation(api, sre_lead):
    response = api(sre_lead).post(
        "/api/v1/integrations/",
        {
            "kind": "grafana",
            "name": "grafana",
            "severity_map": {"critical": "P1", "high": "P2"},
            "resolve_to_monitoring": True,
            "signing_secret": "s3cret",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["has_signing_secret"] is True
    assert "signing_secret" not in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "nagios", "name": "x"}, "kind"),
        ({"kind": "webhook"}, "name"),
        ({"kind": "webhook", "name": "x", "severity_map": {"critical": "urgent"}}, "severity_map"),
        ({"kind": "webhook", "name": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_creation_is_400(api, sre_lead, body, field):
    response = api(sre_lead).post("/api/v1/integrations/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_duplicate_name_is_400(api, sre_lead):
    api(sre_lead).post("/api/v1/integrations/", {"kind": "webhook", "name": "x"}, format="json")
    response = api(sre_lead).post(
        "/api/v1/integrations/", {"kind": "webhook", "name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "name" in response.json()


def test_only_sre_leads_manage_integrations(api, responder):
    client = api(responder)
    assert (
        client.post(
            "/api/v1/integrations/", {"kind": "webhook", "name": "x"}, format="json"
        ).status_code
        == 403
    )
    assert client.get("/api/v1/integrations/").status_code == 403
    assert api().get("/api/v1/integrations/").status_code == 401


def test_list_shows_no_secrets(api, sre_lead, sender):
    sender("alertmanager")
    sender("pagerduty", name="pd")
    response = api(sre_lead).get("/api/v1/integrations/")
    assert response.status_code == 200
    rows = response.json()
    assert {r["kind"] for r in rows} == {"alertmanager", "pagerduty"}
    assert all("secret" not in r and "secret_hash" not in r for r in rows)


def test_rotating_the_secret_retires_the_old_one(api, sre_lead, sender, catalog):
    am = sender("alertmanager")
    response = api(sre_lead).post(f"/api/v1/integrations/{am.integration.pk}/rotate-secret/")
    assert response.status_code == 200
    new_secret = response.json()["secret"]
    assert new_secret != am.secret
    assert response.json()["id"] == str(am.integration.pk)

    assert am.post(load("alertmanager_firing")).status_code == 401
    assert am.post(load("alertmanager_firing"), secret=new_secret).status_code == 202


def test_rotating_an_unknown_integration_is_404(api, sre_lead, responder, sender):
    url = "/api/v1/integrations/7b0d6f1e-0000-4000-8000-000000000000/rotate-secret/"
    assert api(sre_lead).post(url).status_code == 404
    am = sender("alertmanager")
    url = f"/api/v1/integrations/{am.integration.pk}/rotate-secret/"
    assert api(responder).post(url).status_code == 403
