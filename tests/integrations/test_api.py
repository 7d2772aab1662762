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


# --- changing an integration (PATCH) -------------------------------------------------------------
def test_sre_lead_changes_an_integration_and_senders_feel_it(api, sre_lead, sender, catalog):
    am = sender("alertmanager")
    url = f"/api/v1/integrations/{am.integration.pk}/"
    assert api(sre_lead).get(url).json()["severity_map"] == {}

    changed = api(sre_lead).patch(
        url,
        {"name": "prometheus prod", "severity_map": {"critical": "P2"}, "enabled": False},
        format="json",
    )

    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert (body["name"], body["severity_map"], body["enabled"]) == (
        "prometheus prod",
        {"critical": "P2"},
        False,
    )
    assert "secret" not in body
    assert am.post(load("alertmanager_firing")).status_code == 404  # disabled
    assert api(sre_lead).patch(url, {"enabled": True}, format="json").status_code == 200
    assert am.post(load("alertmanager_firing")).status_code == 202  # the same secret still works


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "grafana"}, "kind"),  # the kind stays
        ({"secret": "mine"}, "secret"),  # the secret changes only by rotation
        ({"default_severity": "P0"}, "default_severity"),
        ({"severity_map": {"critical": "urgent"}}, "severity_map"),
        ({"name": "taken"}, "name"),
        ({"signing_secret": "s3cret"}, "signing_secret"),  # an Alertmanager signs nothing
    ],
)
def test_a_wrong_change_is_400_naming_the_field_and_changes_nothing(
    api, sre_lead, sender, body, field
):
    sender("webhook", name="taken")
    am = sender("alertmanager")
    before = Integration.objects.values().get(pk=am.integration.pk)
    response = api(sre_lead).patch(
        f"/api/v1/integrations/{am.integration.pk}/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert Integration.objects.values().get(pk=am.integration.pk) == before


def test_only_the_security_lead_stops_an_integration_declaring_security(
    api, sre_lead, security_user, sender
):
    """The second actor: stopping it would make the incidents it opens visible to everyone."""
    siem = sender("webhook", name="siem", declares_security=True)
    url = f"/api/v1/integrations/{siem.integration.pk}/"

    refused = api(sre_lead).patch(url, {"declares_security": False}, format="json")
    assert refused.status_code == 403
    assert Integration.objects.get(pk=siem.integration.pk).declares_security is True

    security_user.groups.add(*sre_lead.groups.all())  # a security lead who is also an SRE lead
    allowed = api(security_user).patch(url, {"declares_security": False}, format="json")
    assert allowed.status_code == 200
    assert allowed.json()["declares_security"] is False


def test_others_cannot_read_or_change_an_integration(api, responder, sre_lead, sender):
    am = sender("alertmanager")
    url = f"/api/v1/integrations/{am.integration.pk}/"
    assert api(responder).get(url).status_code == 403
    assert api(responder).patch(url, {"enabled": False}, format="json").status_code == 403
    assert api().patch(url, {"enabled": False}, format="json").status_code == 401
    assert Integration.objects.get(pk=am.integration.pk).enabled is True
    missing = "/api/v1/integrations/7b0d6f1e-0000-4000-8000-000000000000/"
    assert api(sre_lead).patch(missing, {"enabled": False}, format="json").status_code == 404
    assert api(sre_lead).get("/api/v1/integrations/not-a-uuid/").status_code == 404
