"""End to end, over real HTTP: a PagerDuty Events v2 sender posting to the app's own server
(`live_server`, a thread serving the whole Django stack) resolves an incident into Monitoring;
and the `escalated` and `pir_published` outgoing webhook events, produced by the timers and PIR
services, reach a receiver on 127.0.0.1 signed with HMAC-SHA256 over the body it got."""

import hashlib
import hmac
import json

import pytest
import requests

from incidents.models import Deadline, Incident
from incidents.services import api_token_create
from incidents.services.timers import deadlines_fire_due
from incidents.states import Status, TimelineKind
from integrations.models import Alert, WebhookDelivery, WebhookSubscription
from pir.models import PostIncidentReview
from pir.services import pir_transition
from tests.factories import declare, drive_to
from tests.pir.conftest import fill

from .conftest import load


# --- PagerDuty Events v2 resolve → Monitoring, through the app's HTTP server -------------------
class Http:
    """The app over HTTP: a PagerDuty client posting events, an IC using the REST API."""

    def __init__(self, base: str, integration, secret: str, ic):
        self.base, self.integration, self.secret = base, integration, secret
        self.ic_token = api_token_create(user=ic, name="end-to-end")[1]

    def event(self, payload: dict) -> requests.Response:
        return requests.post(
            f"{self.base}/integrations/{self.integration.pk}/alerts/",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.secret}"},
            timeout=30,
        )

    def transition(self, incident: Incident, to: str) -> requests.Response:
        return requests.post(
            f"{self.base}/api/v1/incidents/{incident.pk}/transition/",
            json={"to": to},
            headers={"Authorization": f"Token {self.ic_token}"},
            timeout=30,
        )


def _two_incidents_identified(http: Http) -> tuple[Incident, Incident]:
    """Two PagerDuty alerts (two dedup keys, two incidents), both moved to Identified by the IC."""
    trigger = load("pagerduty_trigger")
    other = load("pagerduty_trigger") | {"dedup_key": "inference-api-5xx/prod-us-east-1"}
    other["payload"] = trigger["payload"] | {"summary": "Inference API 5xx above 5%"}
    for payload in (trigger, other):
        response = http.event(payload)
        assert response.status_code == 202, response.text
        assert response.json()["dedup_key"] == payload["dedup_key"]
    lag = Alert.objects.get(fingerprint=trigger["dedup_key"]).incident
    errors = Alert.objects.get(fingerprint=other["dedup_key"]).incident
    assert lag != errors
    for incident in (lag, errors):
        assert http.transition(incident, "identified").status_code == 200
    return lag, errors


@pytest.mark.django_db(transaction=True)
def test_pagerduty_resolve_moves_its_incident_to_monitoring(live_server, sender, catalog, ic_user):
    pd = sender("pagerduty", resolve_to_monitoring=True)
    http = Http(live_server.url, pd.integration, pd.secret, ic_user)
    lag, errors = _two_incidents_identified(http)

    response = http.event(load("pagerduty_resolve"))  # the replication lag's dedup_key only

    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "db-primary-replication-lag/prod-eu-west-1",
    }
    lag.refresh_from_db()
    errors.refresh_from_db()
    assert lag.status == Status.MONITORING
    moved = lag.timeline.filter(kind=TimelineKind.STATUS_CHANGED).latest("id")
    assert (moved.actor, moved.data["from"], moved.data["to"]) == (None, "identified", "monitoring")
    assert "all alerts resolved (pagerduty prod)" in moved.data["reason"]
    assert errors.status == Status.IDENTIFIED, "the other dedup_key's incident is untouched"
    assert list(Alert.objects.order_by("fingerprint").values_list("status", flat=True)) == [
        "resolved",
        "firing",
    ]
    # The same resolve again (PagerDuty clients retry): nothing more happens.
    assert http.event(load("pagerduty_resolve")).status_code == 202
    assert lag.timeline.filter(kind=TimelineKind.STATUS_CHANGED, data__to="monitoring").count() == 1


@pytest.mark.django_db(transaction=True)
def test_pagerduty_resolve_leaves_the_status_when_not_configured(
    live_server, sender, catalog, ic_user
):
    pd = sender("pagerduty")  # resolve_to_monitoring off (the default)
    http = Http(live_server.url, pd.integration, pd.secret, ic_user)
    lag, _errors = _two_incidents_identified(http)

    assert http.event(load("pagerduty_resolve")).status_code == 202

    lag.refresh_from_db()
    assert lag.status == Status.IDENTIFIED
    resolved = lag.timeline.get(kind=TimelineKind.ALERT_RESOLVED)
    assert resolved.actor is None
    assert Alert.objects.get(fingerprint="db-primary-replication-lag/prod-eu-west-1").status == (
        "resolved"
    )
    assert not lag.timeline.filter(kind=TimelineKind.STATUS_CHANGED, data__to="monitoring").exists()


# --- escalated and pir_published, produced by the real flows, to a receiver ----------------------
def verified(received, secret: str) -> dict:
    """The body, after checking the signature the way a receiver does: HMAC-SHA256 with the
    subscription's secret over "<X-TenSafe-Timestamp>.<raw body>"."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    timestamp = headers["x-tensafe-timestamp"]
    assert timestamp.isdigit()
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["x-tensafe-signature"], f"sha256={expected}")
    body = json.loads(received.body)
    assert headers["idempotency-key"] == body["id"]
    assert headers["x-tensafe-event"] == body["event"].removeprefix("incident.")
    return body


@pytest.fixture
def receiver(http_target, allow_local):
    """A subscription to `escalated` and `pir_published` pointing at the local receiver."""
    return WebhookSubscription.objects.create(
        name="siem", url=http_target.url, events=["escalated", "pir_published"]
    )


@pytest.mark.django_db
def test_an_escalation_firing_is_delivered_signed(
    receiver, http_target, ic_user, time_machine, eager_tasks, django_capture_on_commit_callbacks
):
    incident = declare(actor=ic_user, title="Checkout failing")
    # The first escalation rule's deadline (other kinds, e.g. the roles', can fall due at the
    # same instant and fire without an escalation event).
    first = (
        Deadline.objects.filter(incident=incident, status="pending", kind="escalation")
        .order_by("due_at", "pk")
        .first()
    )
    time_machine.move_to(first.due_at, tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        fired = deadlines_fire_due(now=first.due_at)  # what the timers worker's sweep runs

    assert fired >= 1
    escalation = incident.timeline.filter(kind=TimelineKind.ESCALATED).get(data__deadline=first.pk)
    delivery = WebhookDelivery.objects.get(timeline_event=escalation)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 1, 200)
    key = delivery.idempotency_key
    (received,) = [r for r in http_target.received if json.loads(r.body)["id"] == key]
    body = verified(received, receiver.secret)
    assert body["event"] == "incident.escalated"
    assert body["incident"]["id"] == incident.pk
    assert body["incident"]["title"] == "Checkout failing"
    assert body["incident"]["status"] == "investigating"
    assert body["timeline_event"]["id"] == escalation.pk
    assert body["timeline_event"]["kind"] == "escalated"
    assert body["timeline_event"]["text"] == escalation.text
    assert body["timeline_event"]["data"]["deadline"] == first.pk
    assert body["occurred_at"] == escalation.occurred_at.isoformat()


@pytest.mark.django_db
def test_a_published_review_is_delivered_signed(
    receiver, http_target, ic_user, eager_tasks, django_capture_on_commit_callbacks
):
    incident = drive_to(declare(actor=ic_user, title="Queue backlog"), Status.RESOLVED, ic_user)
    pir = fill(PostIncidentReview.objects.get(incident=incident))
    http_target.received.clear()  # escalations that fired on the way, if any

    with django_capture_on_commit_callbacks(execute=True):
        pir_transition(actor=ic_user, pir_id=pir.pk, to="in_review")
        pir_transition(actor=ic_user, pir_id=pir.pk, to="published")

    published = incident.timeline.get(kind=TimelineKind.PIR_PUBLISHED)
    delivery = WebhookDelivery.objects.get(timeline_event=published)
    assert delivery.status == "sent"
    (received,) = http_target.received
    body = verified(received, receiver.secret)
    assert body["event"] == "incident.pir_published"
    assert body["id"] == delivery.idempotency_key
    assert body["incident"]["id"] == incident.pk
    assert body["incident"]["status"] == "resolved"
    assert body["incident"]["resolved_at"] is not None
    assert body["timeline_event"]["id"] == published.pk
    assert body["timeline_event"]["data"]["pir"] == pir.pk
    assert body["timeline_event"]["data"]["pir_status"] == "published"
    assert body["timeline_event"]["text"] == f"Post-incident review {pir.reference} published"
