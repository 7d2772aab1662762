"""Grafana (unified alerting webhook, version 1, with its optional HMAC signature), PagerDuty
Events API v2-compatible, and the generic JSON webhook."""

import hashlib
import hmac
import json
import time

import pytest

from incidents.models import Incident
from incidents.states import TimelineKind
from integrations.models import Alert, AlertGroup, InboundDelivery

from .conftest import load

pytestmark = pytest.mark.django_db


# --- Grafana ---------------------------------------------------------------------------------
def test_grafana_alert_opens_an_incident_and_resolves_on_the_timeline(sender, catalog):
    grafana = sender("grafana")
    assert grafana.post(load("grafana_firing")).status_code == 202
    incident = Incident.objects.get()
    assert incident.severity == "P3"  # severity="warning"
    assert incident.title == (
        "TrainingQueueBacklog (grafana_folder=Training): Training job queue wait above 15 minutes"
    )
    assert list(incident.services.values_list("slug", flat=True)) == ["training-scheduler"]
    alert = Alert.objects.get()
    assert alert.source_url.endswith("viewPanel=7")  # the panel, where a responder looks first

    assert grafana.post(load("grafana_firing")).status_code == 202  # resent: nothing new
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RECEIVED).count() == 1
    assert grafana.post(load("grafana_resolved")).status_code == 202
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1


def _grafana_signature(secret: str, body: bytes, timestamp: str = "") -> str:
    signed = f"{timestamp}:".encode() + body if timestamp else body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_grafana_signature_is_checked_when_configured(sender, catalog):
    grafana = sender("grafana", signing_secret="grafana-hmac-secret")
    body = json.dumps(load("grafana_firing")).encode()

    assert grafana.post(None, raw=body).status_code == 401  # no signature
    bad = _grafana_signature("another-secret", body)
    assert grafana.post(None, raw=body, HTTP_X_GRAFANA_ALERTING_SIGNATURE=bad).status_code == 401
    assert InboundDelivery.objects.count() == 0

    good = _grafana_signature("grafana-hmac-secret", body)
    response = grafana.post(None, raw=body, HTTP_X_GRAFANA_ALERTING_SIGNATURE=good)
    assert response.status_code == 202
    assert Incident.objects.count() == 1


def test_grafana_signature_with_timestamp(sender, catalog):
    grafana = sender("grafana", signing_secret="grafana-hmac-secret")
    body = json.dumps(load("grafana_firing")).encode()
    now = str(int(time.time()))
    signed = {
        "HTTP_X_GRAFANA_ALERTING_SIGNATURE": _grafana_signature("grafana-hmac-secret", body, now),
        "HTTP_X_GRAFANA_ALERTING_SIGNATURE_TIMESTAMP": now,
    }
    assert grafana.post(None, raw=body, **signed).status_code == 202

    old = str(int(time.time()) - 3600)  # a replay an hour later
    replayed = {
        "HTTP_X_GRAFANA_ALERTING_SIGNATURE": _grafana_signature("grafana-hmac-secret", body, old),
        "HTTP_X_GRAFANA_ALERTING_SIGNATURE_TIMESTAMP": old,
    }
    assert grafana.post(None, raw=body, **replayed).status_code == 401


# --- PagerDuty Events API v2 -----------------------------------------------------------------
def test_pagerduty_trigger_is_202_with_its_dedup_key(sender, catalog):
    pd = sender("pagerduty")
    response = pd.post(load("pagerduty_trigger"))
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "db-primary-replication-lag/prod-eu-west-1",
    }
    incident = Incident.objects.get()
    assert incident.severity == "P2"  # payload.severity "error"
    assert incident.title == "Replication lag on db-primary above 120s"
    assert list(incident.services.values_list("slug", flat=True)) == ["postgres"]
    assert incident.detected_at.isoformat() == "2026-11-27T11:02:31+00:00"
    alert = Alert.objects.get()
    assert alert.annotations["custom_details"]["lag_seconds"] == 187
    # The routing key is never stored in clear.
    assert "R0UT1NGK3Y" not in AlertGroup.objects.get().group_key

    assert pd.post(load("pagerduty_trigger")).status_code == 202
    assert Incident.objects.count() == 1


def test_pagerduty_trigger_without_dedup_key_gets_one(sender, catalog):
    pd = sender("pagerduty")
    first = pd.post(load("pagerduty_trigger_no_dedup_key")).json()["dedup_key"]
    second = pd.post(load("pagerduty_trigger_no_dedup_key")).json()["dedup_key"]
    assert first and second and first != second  # as PagerDuty: each is a new alert
    assert Alert.objects.filter(fingerprint=first).exists()
    assert InboundDelivery.objects.filter(result__dedup_key=first).exists()
    assert Incident.objects.count() == 2


def test_pagerduty_acknowledge_and_resolve(sender, catalog):
    pd = sender("pagerduty", resolve_to_monitoring=True)
    pd.post(load("pagerduty_trigger"))
    response = pd.post(load("pagerduty_acknowledge"))
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "db-primary-replication-lag/prod-eu-west-1"
    incident = Incident.objects.get()
    assert incident.acknowledged_at is not None
    assert incident.acknowledged_by is None  # the platform, on the sender's word

    pd.post(load("pagerduty_resolve"))
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1
    assert Alert.objects.get().status == "resolved"


def test_pagerduty_client_may_authenticate_with_the_routing_key(sender, catalog):
    pd = sender("pagerduty")
    event = load("pagerduty_trigger") | {"routing_key": pd.secret}
    assert pd.post(event, secret=None).status_code == 202
    assert pd.post(load("pagerduty_trigger"), secret=None).status_code == 401


def test_pagerduty_invalid_event_answers_as_pagerduty_does(sender, catalog):
    pd = sender("pagerduty")
    event = load("pagerduty_trigger")
    event["payload"]["severity"] = "sev1"
    response = pd.post(event)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["fields"] == ["payload.severity"]
    assert "payload.severity" in body["errors"][0]
    assert InboundDelivery.objects.count() == 0


def test_pagerduty_acknowledge_of_an_unknown_key_is_accepted_and_does_nothing(sender, catalog):
    pd = sender("pagerduty")
    assert pd.post(load("pagerduty_acknowledge")).status_code == 202
    assert Incident.objects.count() == 0


# --- generic webhook -------------------------------------------------------------------------
def test_generic_webhook_opens_and_resolves(sender, catalog):
    hook = sender("webhook")
    assert hook.post(load("webhook_firing")).status_code == 202
    incident = Incident.objects.get()
    assert incident.severity == "P1"
    assert incident.detected_at.isoformat() == "2026-11-27T12:30:00+00:00"
    assert list(incident.services.values_list("slug", flat=True)) == ["encryption-api"]
    assert "503 from eu-west-1" in incident.description

    assert hook.post(load("webhook_resolved")).status_code == 202
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1


def test_generic_webhook_accepts_our_own_severities(sender, catalog):
    hook = sender("webhook")
    hook.post(load("webhook_firing") | {"severity": "P2"})
    assert Incident.objects.get().severity == "P2"
