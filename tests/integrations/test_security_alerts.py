"""Alerts from security tools (procedures 4.1: "Security Tools | SIEM, WAF alerts | Security
team") declare security incidents: restricted from the start, detected by a security tool, the
Security Lead due at once. An integration says so for everything it sends (`declares_security`),
any sender for one alert (a `security=true` label, the generic webhook's `security` field, a
PagerDuty event's `custom_details.security`). The payloads are the senders' own formats
(payloads/)."""

import copy

import pytest

from incidents.models import Deadline, EscalationRule, Incident
from incidents.states import DetectionSource
from integrations.models import Alert

from .conftest import load

pytestmark = pytest.mark.django_db


def opened(fingerprint: str) -> Incident:
    return Alert.objects.get(fingerprint=fingerprint).incident


def assert_security_incident(incident: Incident, responder, api) -> None:
    assert incident.security
    assert incident.detection_source == DetectionSource.SECURITY_TOOL
    assert api(responder).get(f"/api/v1/incidents/{incident.pk}/").status_code == 404
    rule = EscalationRule.objects.get(trigger="security")
    deadline = Deadline.objects.get(incident=incident, key=f"rule:{rule.pk}")
    assert deadline.due_at <= incident.declared_at  # the Security Lead at once (5.1)


def with_security_label(payload: dict) -> dict:
    payload = copy.deepcopy(payload)
    for alert in payload["alerts"]:
        alert["labels"]["security"] = "true"
    return payload


@pytest.mark.parametrize(
    ("kind", "payload", "fingerprint"),
    [
        ("alertmanager", "alertmanager_firing", None),
        ("grafana", "grafana_firing", None),
        ("pagerduty", "pagerduty_trigger", "db-primary-replication-lag/prod-eu-west-1"),
        ("webhook", "webhook_firing", "statuscheck/encryption-api"),
    ],
)
def test_an_integration_that_declares_security_opens_security_incidents(
    sender, catalog, responder, api, kind, payload, fingerprint
):
    siem = sender(kind, name=f"SIEM {kind}", declares_security=True)
    body = load(payload)
    assert siem.post(body).status_code == 202
    fingerprint = fingerprint or body["alerts"][0]["fingerprint"]
    assert_security_incident(opened(fingerprint), responder, api)


@pytest.mark.parametrize("kind", ["alertmanager", "grafana"])
def test_an_alert_labelled_security_true_opens_a_security_incident(
    sender, catalog, responder, api, kind
):
    monitoring = sender(kind)
    body = with_security_label(load(f"{kind}_firing"))
    assert monitoring.post(body).status_code == 202
    assert_security_incident(opened(body["alerts"][0]["fingerprint"]), responder, api)


def test_the_generic_webhooks_security_field(sender, catalog, responder, api):
    waf = sender("webhook", name="WAF")
    body = load("webhook_firing") | {"security": True, "dedup_key": "waf/sqli-burst"}
    assert waf.post(body).status_code == 202
    assert_security_incident(opened("waf/sqli-burst"), responder, api)
    assert Alert.objects.get(fingerprint="waf/sqli-burst").labels["security"] == "true"

    ordinary = load("webhook_firing")
    assert waf.post(ordinary).status_code == 202
    assert not opened(ordinary["dedup_key"]).security
    assert waf.post(load("webhook_firing") | {"security": "maybe"}).status_code == 400


def test_a_pagerduty_event_saying_security_in_its_custom_details(sender, catalog, responder, api):
    pd = sender("pagerduty")
    body = load("pagerduty_trigger")
    body["payload"]["custom_details"]["security"] = True
    assert pd.post(body).status_code == 202
    assert_security_incident(opened(body["dedup_key"]), responder, api)


def test_ordinary_alerts_open_ordinary_incidents(sender, catalog, responder, api):
    monitoring = sender("alertmanager")
    body = load("alertmanager_firing")
    assert monitoring.post(body).status_code == 202
    incident = opened(body["alerts"][0]["fingerprint"])
    assert not incident.security
    assert incident.detection_source == DetectionSource.MONITORING
    assert api(responder).get(f"/api/v1/incidents/{incident.pk}/").status_code == 200


def test_an_alert_joining_an_open_incident_leaves_its_flag_to_people(sender, catalog):
    """After declaration the flag is changed by people, with a reason (the IC, an SRE lead,
    the security group): a later alert of the group does not flip it."""
    monitoring = sender("alertmanager")
    body = load("alertmanager_firing")
    assert monitoring.post(body).status_code == 202
    incident = opened(body["alerts"][0]["fingerprint"])
    later = with_security_label(body)
    later["alerts"][0]["fingerprint"] = "another-alert-of-the-group"
    assert monitoring.post(later).status_code == 202
    assert opened("another-alert-of-the-group") == incident
    incident.refresh_from_db()
    assert not incident.security


def test_sre_leads_create_and_list_security_integrations(api, sre_lead):
    response = api(sre_lead).post(
        "/api/v1/integrations/",
        {"kind": "webhook", "name": "WAF", "declares_security": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["declares_security"] is True
    listed = api(sre_lead).get("/api/v1/integrations/").json()
    assert [i["declares_security"] for i in listed] == [True]


def _admin_change(client, integration, **changes):
    data = {
        "name": integration.name,
        "kind": integration.kind,
        "enabled": "on",
        "severity_map": "{}",
        "default_severity": integration.default_severity,
        "signing_secret": "",
        **changes,
    }
    if integration.declares_security and "declares_security" not in changes:
        data["declares_security"] = "on"
    return client.post(f"/admin/integrations/integration/{integration.pk}/change/", data)


def test_only_the_security_lead_stops_an_integration_declaring_security(sender, sre_lead, client):
    """Turned off, the integration's incidents would be visible to everyone: like
    allow_restricted, that takes the security lead or a superuser. Both changes are audited."""
    from incidents.models import AuditEvent
    from incidents.states import AuditAction
    from tests.factories import UserFactory

    siem = sender("webhook", name="SIEM", declares_security=True).integration
    client.force_login(sre_lead)
    refused = _admin_change(client, siem, declares_security="")
    assert refused.status_code == 200
    assert "Only the security lead or a superuser" in refused.content.decode()
    siem.refresh_from_db()
    assert siem.declares_security
    assert not AuditEvent.objects.filter(action=AuditAction.INTEGRATION_SECURITY).exists()

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    assert _admin_change(client, siem, declares_security="").status_code == 302
    siem.refresh_from_db()
    assert not siem.declares_security

    client.force_login(sre_lead)  # turning it on restricts: an SRE lead may
    assert _admin_change(client, siem, declares_security="on").status_code == 302
    siem.refresh_from_db()
    assert siem.declares_security
    rows = AuditEvent.objects.filter(action=AuditAction.INTEGRATION_SECURITY).order_by("id")
    assert [(r.actor, r.details["declares_security"]) for r in rows] == [
        (root, False),
        (sre_lead, True),
    ]
