"""What a sender is told when something is wrong, and that nothing is stored then: 404 for an
unknown integration, 401 for a bad or missing secret, 413 over 512 KB, 400 naming the field."""

import json
import threading

import pytest

from incidents.models import Incident
from integrations.models import Alert, AlertGroup, InboundDelivery

from .conftest import load

pytestmark = pytest.mark.django_db


def nothing_stored():
    return (
        InboundDelivery.objects.count(),
        AlertGroup.objects.count(),
        Alert.objects.count(),
        Incident.objects.count(),
    ) == (0, 0, 0, 0)


def test_unknown_integration_is_404(client):
    for path in (
        "/integrations/7b0d6f1e-0000-4000-8000-000000000000/alerts/",
        "/integrations/not-a-uuid/alerts/",
    ):
        response = client.post(path, {}, content_type="application/json")
        assert response.status_code == 404
        assert response.json()["detail"] == "No such integration."


def test_disabled_integration_is_404(sender):
    am = sender("alertmanager")
    am.integration.enabled = False
    am.integration.save()
    assert am.post(load("alertmanager_firing")).status_code == 404


@pytest.mark.parametrize("secret", [None, "wrong", ""])
def test_missing_or_bad_secret_is_401(sender, secret):
    am = sender("alertmanager")
    response = am.post(load("alertmanager_firing"), secret=secret)
    assert response.status_code == 401
    assert nothing_stored()


def test_token_scheme_is_not_bearer_is_401(sender):
    am = sender("alertmanager")
    response = am.post(load("alertmanager_firing"), HTTP_AUTHORIZATION=f"Token {am.secret}")
    assert response.status_code == 401


def test_another_integrations_secret_is_401(sender):
    am = sender("alertmanager")
    other = sender("webhook")
    assert am.post(load("alertmanager_firing"), secret=other.secret).status_code == 401


def test_body_over_512_kb_is_413(sender):
    am = sender("alertmanager")
    payload = load("alertmanager_firing")
    payload["commonAnnotations"]["description"] = "x" * (512 * 1024)
    response = am.post(payload)
    assert response.status_code == 413
    assert nothing_stored()


def test_body_over_djangos_own_limit_is_413_not_400(sender, settings):
    am = sender("alertmanager")
    body = b"{" + b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b"}"
    assert am.post(None, raw=body).status_code == 413


def test_body_larger_than_declared_is_cut_and_refused(sender):
    """A Content-Length under the limit with more actually sent: only the declared bytes are
    read (Django's LimitedStream), so the rest never reaches the parser."""
    am = sender("alertmanager")
    body = json.dumps(load("alertmanager_firing")).encode()
    response = am.post(None, raw=body + b" " * 1000, CONTENT_LENGTH=str(len(body) - 1))
    assert response.status_code == 400
    assert nothing_stored()


def test_exactly_512_kb_is_accepted(sender, catalog):
    am = sender("alertmanager")
    body = json.dumps(load("alertmanager_firing")).encode()
    body = body[:-1] + b" " * (512 * 1024 - len(body)) + b"}"
    assert len(body) == 512 * 1024
    assert am.post(None, raw=body).status_code == 202


def test_not_json_is_400(sender):
    am = sender("alertmanager")
    response = am.post(None, raw=b"alertname=HighErrorRate")
    assert response.status_code == 400
    assert response.json()["fields"] == ["body"]
    assert nothing_stored()


@pytest.mark.parametrize(
    ("kind", "fixture", "change", "field"),
    [
        ("alertmanager", "alertmanager_firing", {"version": "3"}, "version"),
        ("alertmanager", "alertmanager_firing", {"groupKey": None}, "groupKey"),
        ("alertmanager", "alertmanager_firing", {"alerts": []}, "alerts"),
        (
            "alertmanager",
            "alertmanager_firing",
            {"alerts.0.fingerprint": None},
            "alerts[0].fingerprint",
        ),
        (
            "alertmanager",
            "alertmanager_firing",
            {"alerts.0.startsAt": "yesterday"},
            "alerts[0].startsAt",
        ),
        ("alertmanager", "alertmanager_firing", {"alerts.0.status": "pending"}, "alerts[0].status"),
        ("alertmanager", "alertmanager_firing", {"alerts.0.labels": ["a"]}, "alerts[0].labels"),
        ("grafana", "grafana_firing", {"orgId": "main"}, "orgId"),
        ("grafana", "grafana_firing", {"version": "4"}, "version"),
        ("pagerduty", "pagerduty_trigger", {"event_action": "fire"}, "event_action"),
        ("pagerduty", "pagerduty_trigger", {"payload.summary": None}, "payload.summary"),
        ("pagerduty", "pagerduty_trigger", {"payload": None}, "payload"),
        ("pagerduty", "pagerduty_resolve", {"dedup_key": None}, "dedup_key"),
        ("webhook", "webhook_firing", {"status": "open"}, "status"),
        ("webhook", "webhook_firing", {"dedup_key": None}, "dedup_key"),
        ("webhook", "webhook_firing", {"started_at": "soon"}, "started_at"),
    ],
)
def test_malformed_payload_is_400_naming_the_field(sender, kind, fixture, change, field):
    hook = sender(kind)
    payload = load(fixture)
    for path, value in change.items():
        *parents, last = path.split(".")
        node = payload
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    response = hook.post(payload)
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["fields"]
    assert field in body["detail"]
    assert nothing_stored()


def test_json_that_is_not_an_object_is_400(sender):
    hook = sender("webhook")
    response = hook.post([load("webhook_firing")])
    assert response.status_code == 400
    assert response.json()["fields"] == ["body"]


def test_get_is_405(sender):
    am = sender("alertmanager")
    assert am.client.get(am.path).status_code == 405


def test_webhooks_need_no_csrf_token(sender, catalog):
    from django.test import Client

    am = sender("alertmanager")
    am.client = Client(enforce_csrf_checks=True)
    assert am.post(load("alertmanager_firing")).status_code == 202


def test_a_delivery_that_could_not_be_applied_is_kept_and_retried_with_backoff(
    sender, catalog, monkeypatch, time_machine
):
    from integrations.services import ingest

    time_machine.move_to("2026-11-27 12:00:00+00:00", tick=False)
    am = sender("alertmanager")
    original = ingest._apply

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ingest, "_apply", broken)
    assert am.post(load("alertmanager_firing")).status_code == 202  # accepted: it is stored
    delivery = InboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("received", 1)
    assert "database went away" in delivery.error
    assert delivery.retry_at.isoformat() == "2026-11-27T12:00:02+00:00"
    assert Incident.objects.count() == 0

    monkeypatch.setattr(ingest, "_apply", original)
    assert ingest.inbound_apply_pending() == 0  # not due yet
    time_machine.move_to("2026-11-27 12:00:02+00:00", tick=False)
    assert ingest.inbound_apply_pending() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.retry_at) == ("processed", None)
    assert Incident.objects.count() == 1


def test_a_poison_delivery_fails_after_five_tries_and_frees_its_group(
    sender, catalog, monkeypatch, time_machine, settings
):
    """Backoff 2, 4, 8, 16 s, then failed (admin, /metrics); the group's later delivery,
    held back while the first was retrying, is applied after it."""
    from integrations.services import ingest

    settings.TENSAFE_INGEST_APPLY_INLINE = False
    time_machine.move_to("2026-11-27 12:00:00+00:00", tick=False)
    am = sender("alertmanager")
    assert am.post(load("alertmanager_firing")).status_code == 202
    assert am.post(load("alertmanager_resolved")).status_code == 202
    first, second = InboundDelivery.objects.order_by("id")
    InboundDelivery.objects.filter(pk=first.pk).update(body='{"groupKey": 1}')  # unparseable now

    for step in (0, 2, 4, 8):
        time_machine.shift(step)
        assert ingest.inbound_apply_pending() == 1  # only the first: the second waits its turn
        assert ingest.inbound_apply_pending() == 0  # and the first is not due again yet
        second.refresh_from_db()
        assert second.status == "received"
    time_machine.shift(16)
    assert ingest.inbound_apply_pending() == 2  # the fifth try fails it; the second goes on
    first.refresh_from_db()
    assert (first.status, first.attempts, first.retry_at) == ("failed", 5, None)
    second.refresh_from_db()
    assert second.status == "processed"


def test_by_default_the_request_stores_and_a_worker_applies(sender, catalog, settings):
    """The request is one INSERT and at most one hand-off per half second; the worker applies
    the stored deliveries oldest first (repeats counted, the incident opened once)."""
    from integrations import views
    from integrations.services.ingest import inbound_apply_pending
    from integrations.tasks import apply_inbound_task

    settings.TENSAFE_INGEST_APPLY_INLINE = False
    am = sender("alertmanager")
    woken = threading.Semaphore(0)
    original = apply_inbound_task.delay
    apply_inbound_task.delay = woken.release
    views._waker = views._Waker()
    try:
        for _ in range(3):
            assert am.post(load("alertmanager_firing")).status_code == 202
        # One hand-off for the three (the waker's thread sends it, then waits half a second).
        assert woken.acquire(timeout=5)
        assert not woken.acquire(timeout=views.KICK_INTERVAL_SECONDS / 2)
    finally:
        apply_inbound_task.delay = original
    assert Incident.objects.count() == 0
    assert AlertGroup.objects.count() == 0
    assert set(InboundDelivery.objects.values_list("group_key", flat=True)) == {
        load("alertmanager_firing")["groupKey"]
    }

    assert inbound_apply_pending() == 3
    assert Incident.objects.count() == 1
    assert Alert.objects.get().times_received == 3
    assert set(InboundDelivery.objects.values_list("status", flat=True)) == {"processed"}


def test_a_broker_that_hangs_never_holds_up_the_reply(sender, catalog, settings):
    """A Redis restarting (or slow to answer) holds the hand-off for as long as it takes: the
    waker's thread waits on it, the request has already answered 202."""
    from integrations import views
    from integrations.tasks import apply_inbound_task

    settings.TENSAFE_INGEST_APPLY_INLINE = False
    am = sender("alertmanager")
    handing, broker_back = threading.Event(), threading.Event()

    def hanging():
        handing.set()
        broker_back.wait(30)

    original = apply_inbound_task.delay
    apply_inbound_task.delay = hanging
    views._waker = views._Waker()
    try:
        assert am.post(load("alertmanager_firing")).status_code == 202
        assert handing.wait(5)  # the hand-off is under way, and blocked
        assert am.post(load("alertmanager_firing")).status_code == 202  # replies go on
        assert not broker_back.is_set()
    finally:
        broker_back.set()
        apply_inbound_task.delay = original
    assert InboundDelivery.objects.filter(status="received").count() == 2


def test_a_broker_that_refuses_the_hand_off_loses_nothing(sender, catalog, settings):
    from integrations import views
    from integrations.services.ingest import inbound_apply_pending
    from integrations.tasks import apply_inbound_task

    settings.TENSAFE_INGEST_APPLY_INLINE = False
    am = sender("alertmanager")

    def refused():
        raise ConnectionRefusedError("broker down")

    original = apply_inbound_task.delay
    apply_inbound_task.delay = refused
    views._waker = views._Waker()
    try:
        assert am.post(load("alertmanager_firing")).status_code == 202
    finally:
        apply_inbound_task.delay = original
    assert inbound_apply_pending() == 1  # what beat's sweep does every second
    assert Incident.objects.count() == 1
