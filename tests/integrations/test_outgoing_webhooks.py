"""Outgoing webhooks: one delivery row per (subscription, event) written with the event,
signed like pages (HMAC-SHA256), sent in order per incident, retried with backoff, disabled
after repeated failures, never to private addresses unless allow-listed, and restricted
incidents only to subscriptions allowed them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import TimelineEvent
from incidents.notify import Outcome, retry_after_seconds, sign
from incidents.outbox import _record, outbox_deliver, outbox_kind, outbox_requeue_stale
from incidents.states import Status, TimelineKind
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services.outgoing import DISABLE_AFTER_FAILURES, KIND, event_name
from tests.factories import declare, drive_to

pytestmark = pytest.mark.django_db


def webhook_deliver(delivery_id: int) -> str:
    """What a worker does with a delivery's hand-off: the outbox's one deliver."""
    return outbox_deliver(KIND, delivery_id)


def webhooks_requeue_stale() -> list[int]:
    """What the outbox's sweep does for this kind."""
    return outbox_requeue_stale(KIND)


@pytest.fixture
def subscribe(http_target):
    def make(events=("declared", "status_changed"), **fields):
        return WebhookSubscription.objects.create(
            name=fields.pop("name", f"sub-{WebhookSubscription.objects.count()}"),
            url=fields.pop("url", http_target.url),
            events=list(events),
            **fields,
        )

    return make


def due_now(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_delivery_row_is_written_with_the_event_and_queued_after_commit(
    subscribe, ic_user, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks() as callbacks:
        incident = declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.status, delivery.incident) == ("declared", "pending", incident)
    assert delivery.timeline_event.kind == TimelineKind.DECLARED
    assert len(callbacks) >= 1  # the hand-off to the workers runs only after commit


def test_payload_is_signed_with_hmac_sha256(subscribe, ic_user, http_target, allow_local):
    sub = subscribe()
    incident = declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliver(delivery.pk) == "sent"

    (received,) = http_target.received
    headers = {k.lower(): v for k, v in received.headers.items()}
    expected = sign(sub.secret, headers["x-tensafe-timestamp"], received.body)
    assert headers["x-tensafe-signature"] == expected
    assert headers["idempotency-key"] == delivery.idempotency_key
    assert headers["x-tensafe-event"] == "declared"
    body = received.json()
    assert body["event"] == "incident.declared"
    assert body["id"] == delivery.idempotency_key
    assert body["incident"]["id"] == incident.pk
    assert body["incident"]["severity"] == "P1"
    assert body["timeline_event"]["kind"] == "declared"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 1, 200)


def test_deliveries_go_in_order_per_incident(subscribe, ic_user, http_target, allow_local):
    subscribe()
    incident = declare(actor=ic_user)
    services.incident_transition(actor=ic_user, incident_id=incident.pk, to="identified")
    first, second = WebhookDelivery.objects.order_by("id")
    assert (first.event, second.event) == ("declared", "status_changed")

    assert webhook_deliver(second.pk) == "waiting"  # the declaration has not gone out yet
    assert http_target.received == []
    assert webhook_deliver(first.pk) == "sent"
    assert webhook_deliver(second.pk) == "sent"
    assert [r.json()["event"] for r in http_target.received] == [
        "incident.declared",
        "incident.status_changed",
    ]


def test_other_incidents_do_not_wait(subscribe, ic_user, http_target, allow_local):
    subscribe()
    declare(actor=ic_user)
    declare(actor=ic_user, title="Another")
    _first, other = WebhookDelivery.objects.order_by("id")
    assert webhook_deliver(other.pk) == "sent"


def test_5xx_is_retried_after_backoff_and_later_events_wait(
    subscribe, ic_user, http_target, allow_local
):
    subscribe()
    incident = declare(actor=ic_user)
    services.incident_transition(actor=ic_user, incident_id=incident.pk, to="identified")
    first, second = WebhookDelivery.objects.order_by("id")
    http_target.respond(503)

    assert webhook_deliver(first.pk) == "pending"
    first.refresh_from_db()
    assert first.attempts == 1
    assert first.last_error == "HTTP 503"
    assert first.next_attempt_at > timezone.now()
    assert webhook_deliver(first.pk) == "skipped"  # not due yet
    assert webhook_deliver(second.pk) == "waiting"

    due_now(first)
    assert webhook_deliver(first.pk) == "sent"
    assert webhook_deliver(second.pk) == "sent"
    assert [r.json()["event"] for r in http_target.received] == [
        "incident.declared",
        "incident.declared",
        "incident.status_changed",
    ]
    assert WebhookSubscription.objects.get().consecutive_failures == 0


def test_429_honours_retry_after(subscribe, ic_user, http_target, allow_local):
    subscribe()
    declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    http_target.respond((429, {"Retry-After": "120"}))
    before = timezone.now()
    webhook_deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at >= before + timedelta(seconds=119)


def test_4xx_fails_at_once_and_the_next_event_goes(subscribe, ic_user, http_target, allow_local):
    subscribe()
    incident = declare(actor=ic_user)
    services.incident_transition(actor=ic_user, incident_id=incident.pk, to="identified")
    first, second = WebhookDelivery.objects.order_by("id")
    http_target.respond(410)
    assert webhook_deliver(first.pk) == "failed"
    assert webhook_deliver(second.pk) == "sent"


def test_subscription_is_disabled_after_repeated_failures_and_reported(
    subscribe, ic_user, http_target, allow_local, api, sre_lead
):
    sub = subscribe(events=("declared",))
    incidents = [declare(actor=ic_user, title=f"Outage {n}") for n in range(DISABLE_AFTER_FAILURES)]
    http_target.respond(*([500] * DISABLE_AFTER_FAILURES))
    for n, delivery in enumerate(WebhookDelivery.objects.order_by("id")):
        webhook_deliver(delivery.pk)
        sub.refresh_from_db()
        assert sub.consecutive_failures == n + 1
    assert sub.enabled is False
    assert "10 consecutive failed attempts" in sub.disabled_reason
    note = incidents[-1].timeline.filter(kind=TimelineKind.NOTE).get()
    assert "disabled" in note.text
    assert note.data["held"] == DISABLE_AFTER_FAILURES - 1  # the earlier ones' retries
    # Nothing more goes out; what it was still to retry is held, and so is what happens next.
    first = WebhookDelivery.objects.order_by("id").first()
    assert first.status == "held"
    due_now(first)
    assert webhook_deliver(first.pk) == "skipped"
    while_disabled = declare(actor=ic_user, title="While disabled")
    held = WebhookDelivery.objects.get(incident=while_disabled)
    assert held.status == "held"
    assert len(http_target.received) == DISABLE_AFTER_FAILURES

    # An SRE lead re-enables it: the count is cleared and what was held is sent.
    response = api(sre_lead).patch(f"/api/v1/webhooks/{sub.pk}/", {"enabled": True}, format="json")
    assert response.status_code == 200
    assert response.json()["consecutive_failures"] == 0
    assert response.json()["disabled_reason"] == ""
    assert webhook_deliver(first.pk) == "sent"
    assert webhook_deliver(held.pk) == "sent"
    assert http_target.received[-1].json()["incident"]["title"] == "While disabled"


def test_events_while_disabled_are_held_and_sent_in_order_when_re_enabled(
    subscribe,
    ic_user,
    sre_lead,
    api,
    client,
    http_target,
    allow_local,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    sub = subscribe()
    response = api(sre_lead).patch(f"/api/v1/webhooks/{sub.pk}/", {"enabled": False}, format="json")
    assert response.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        first = declare(actor=ic_user, title="First")
        services.incident_transition(actor=ic_user, incident_id=first.pk, to="identified")
        second = declare(actor=ic_user, title="Second")
        drive_to(first, Status.RESOLVED, ic_user)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"held"}
    assert http_target.received == []

    # Enabled again from the admin: everything held goes out, in order per incident.
    client.force_login(sre_lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/integrations/webhooksubscription/",
            {"action": "enable", "_selected_action": [sub.pk]},
        )
    assert response.status_code == 302
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"sent"}
    got = [
        (r.json()["incident"]["id"], r.json()["timeline_event"]["id"]) for r in http_target.received
    ]
    assert len(got) == WebhookDelivery.objects.count() == 5
    for incident in (first, second):
        mine = [event for incident_id, event in got if incident_id == incident.pk]
        assert mine == sorted(mine), "in the order they happened"
    assert [
        r.json()["event"] for r in http_target.received if r.json()["incident"]["id"] == first.pk
    ] == [
        "incident.declared",
        "incident.status_changed",
        "incident.status_changed",
        "incident.resolved",
    ]


def test_disabling_holds_what_is_pending(
    subscribe, ic_user, sre_lead, api, http_target, allow_local
):
    sub = subscribe()
    declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    api(sre_lead).patch(f"/api/v1/webhooks/{sub.pk}/", {"enabled": False}, format="json")
    delivery.refresh_from_db()
    assert delivery.status == "held"
    assert webhook_deliver(delivery.pk) == "skipped"
    assert http_target.received == []


def test_a_retry_owed_when_an_sre_lead_disables_it_is_held(subscribe, ic_user):
    sub = subscribe()
    declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    # Disabled while the first attempt is on the wire; it fails and is retryable.
    WebhookSubscription.objects.filter(pk=sub.pk).update(enabled=False)
    lease = timezone.now() + timedelta(seconds=60)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempts=1, lease_until=lease
    )
    delivery.refresh_from_db()
    outcome = Outcome(ok=False, retryable=True, code=503)
    assert _record(outbox_kind(KIND), delivery, outcome, lease) == "held"


def test_held_longer_than_the_limit_are_expired_not_sent(
    subscribe, ic_user, sre_lead, api, http_target, allow_local, settings
):
    settings.TENSAFE_WEBHOOK_HOLD_DAYS = 2
    sub = subscribe(events=("declared",))
    api(sre_lead).patch(f"/api/v1/webhooks/{sub.pk}/", {"enabled": False}, format="json")
    old = declare(actor=ic_user, title="Old news")
    fresh = declare(actor=ic_user, title="Fresh")
    WebhookDelivery.objects.filter(incident=old).update(
        created_at=timezone.now() - timedelta(days=2, minutes=1)
    )
    response = api(sre_lead).patch(f"/api/v1/webhooks/{sub.pk}/", {"enabled": True}, format="json")
    assert response.status_code == 200
    expired = WebhookDelivery.objects.get(incident=old)
    assert expired.status == "expired"
    assert "TENSAFE_WEBHOOK_HOLD_DAYS" in expired.last_error
    assert webhook_deliver(expired.pk) == "skipped"
    released = WebhookDelivery.objects.get(incident=fresh)
    assert webhook_deliver(released.pk) == "sent"
    assert [r.json()["incident"]["title"] for r in http_target.received] == ["Fresh"]
    listed = api(sre_lead).get(f"/api/v1/webhooks/{sub.pk}/deliveries/").json()
    assert sorted(d["status"] for d in listed) == ["expired", "sent"]


def test_the_sweeper_expires_what_a_disabled_subscription_holds_too_long(
    subscribe, ic_user, settings
):
    settings.TENSAFE_WEBHOOK_HOLD_DAYS = 1
    subscribe(enabled=False)
    declare(actor=ic_user)
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=25))
    webhooks_requeue_stale()
    assert WebhookDelivery.objects.get().status == "expired"


def test_the_sweeper_settles_deliveries_written_across_a_change(subscribe, ic_user, allow_local):
    """An event's transaction read the subscription just before an SRE lead changed it."""
    enabled, disabled = subscribe(name="enabled"), subscribe(name="disabled", enabled=False)
    declare(actor=ic_user)
    WebhookDelivery.objects.filter(subscription=enabled).update(status="held")
    WebhookDelivery.objects.filter(subscription=disabled).update(status="pending")
    handed = webhooks_requeue_stale()
    released = WebhookDelivery.objects.get(subscription=enabled)
    assert (released.status, handed) == ("pending", [released.pk])
    assert WebhookDelivery.objects.get(subscription=disabled).status == "held"


def test_private_addresses_are_refused_unless_allow_listed(subscribe, ic_user, http_target):
    subscribe()
    declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliver(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "non-public address" in delivery.last_error
    assert http_target.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}\\@1.1.1.1/x",  # urlsplit: 1.1.1.1; the HTTP client: 127.0.0.1
        "http://a@127.0.0.1:{port}/x",
    ],
)
def test_a_subscription_saved_before_the_url_checks_is_refused_at_send_time(
    subscribe, ic_user, http_target, settings, url
):
    """The row is written directly, as the API wrote it before the checks."""
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"] if "a@" in url else []
    subscribe(url=url.format(port=http_target.server.server_address[1]))
    declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliver(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "backslash" in delivery.last_error or "user information" in delivery.last_error
    assert http_target.received == []


def test_a_backslash_url_is_400_when_a_subscription_is_changed(api, sre_lead, http_target):
    client = api(sre_lead)
    sub = WebhookSubscription.objects.create(name="siem", url="https://93.184.215.14/hook")
    port = http_target.server.server_address[1]
    response = client.patch(
        f"/api/v1/webhooks/{sub.pk}/",
        {"url": f"http://127.0.0.1:{port}\\@1.1.1.1/x"},
        format="json",
    )
    assert response.status_code == 400
    assert "backslash" in str(response.json()["url"])
    sub.refresh_from_db()
    assert sub.url == "https://93.184.215.14/hook"


def test_restricted_incidents_go_only_to_allowed_subscriptions(
    subscribe, ic_user, security_user, http_target, allow_local
):
    subscribe(name="everyone")
    allowed = subscribe(name="security-siem", allow_restricted=True)
    declare(actor=security_user, security=True, title="Credential leak")
    delivery = WebhookDelivery.objects.get()
    assert delivery.subscription == allowed
    assert delivery.payload["incident"]["security"] is True


def test_drill_events_are_recorded_and_never_sent(subscribe, ic_user, http_target, allow_local):
    subscribe()
    declare(actor=ic_user, drill=True)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "suppressed"
    assert webhook_deliver(delivery.pk) == "skipped"
    assert http_target.received == []


def test_only_subscribed_events_are_sent(subscribe, ic_user):
    subscribe(events=("resolved",), name="resolutions")
    incident = declare(actor=ic_user)
    drive_to(incident, Status.RESOLVED, ic_user)
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["resolved"]


def test_event_names():
    def ev(kind, **data):
        return TimelineEvent(kind=kind, data=data)

    assert event_name(ev("declared")) == "declared"
    assert event_name(ev("status_changed", to="identified")) == "status_changed"
    assert event_name(ev("status_changed", to="resolved")) == "resolved"
    assert event_name(ev("reopened")) == "reopened"
    assert event_name(ev("escalated")) == "escalated"
    assert event_name(ev("pir_published")) == "pir_published"
    assert event_name(ev("note")) is None


def test_stale_deliveries_are_handed_over_again(subscribe, ic_user, allow_local):
    subscribe()
    declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    assert webhooks_requeue_stale() == [delivery.pk]
    # A send whose worker died is pending again once its lease is over.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", lease_until=timezone.now() - timedelta(seconds=1)
    )
    webhooks_requeue_stale()
    delivery.refresh_from_db()
    assert delivery.status == "pending"


# --- managing subscriptions ------------------------------------------------------------------
def test_sre_lead_subscribes_and_gets_the_secret_once(api, sre_lead, settings):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    client = api(sre_lead)
    response = client.post(
        "/api/v1/webhooks/",
        {
            "name": "statuspage",
            "url": "http://127.0.0.1:9/hook",
            "events": ["declared", "resolved"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["secret"]
    listed = client.get("/api/v1/webhooks/").json()
    assert listed[0]["events"] == ["declared", "resolved"]
    assert "secret" not in listed[0]
    assert client.get(f"/api/v1/webhooks/{listed[0]['id']}/deliveries/").json() == []


def test_private_subscription_urls_are_400(api, sre_lead):
    response = api(sre_lead).post(
        "/api/v1/webhooks/",
        {"name": "internal", "url": "http://10.1.2.3/hook", "events": ["declared"]},
        format="json",
    )
    assert response.status_code == 400
    assert "url" in response.json()


def test_only_sre_leads_manage_subscriptions(api, responder):
    assert api(responder).get("/api/v1/webhooks/").status_code == 403


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (" 7 ", 7.0), ("-5", 0.0), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(header, expected):
    assert retry_after_seconds(header) == expected


def test_retry_after_as_an_http_date():
    later = timezone.now() + timedelta(seconds=90)
    seconds = retry_after_seconds(later.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert 85 <= seconds <= 90
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: now


def test_503_with_retry_after_is_honoured(subscribe, ic_user, http_target, allow_local):
    subscribe()
    declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    http_target.respond((503, {"Retry-After": "45"}))
    before = timezone.now()
    assert webhook_deliver(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at >= before + timedelta(seconds=44)


def test_disabling_and_enabling_in_the_admin_form_go_through_the_service(
    subscribe, ic_user, sre_lead, client, http_target, allow_local
):
    sub = subscribe(events=("declared",))
    declare(actor=ic_user)
    client.force_login(sre_lead)

    def save(enabled: bool):
        form = {"name": sub.name, "url": sub.url, "events": ["declared"], "secret": sub.secret}
        if enabled:
            form["enabled"] = "on"
        response = client.post(f"/admin/integrations/webhooksubscription/{sub.pk}/change/", form)
        assert response.status_code == 302, response.content.decode()[:2000]

    save(enabled=False)
    assert WebhookDelivery.objects.get().status == "held"
    WebhookSubscription.objects.filter(pk=sub.pk).update(consecutive_failures=4)
    save(enabled=True)
    assert WebhookDelivery.objects.get().status == "pending"
    assert WebhookSubscription.objects.get(pk=sub.pk).consecutive_failures == 0


@pytest.mark.django_db(transaction=True)
def test_migration_keeps_every_delivery_and_makes_stuck_ones_due_again(ic_user):
    """Migration integrations 0004: the rows become outbox rows with their data kept; a row the
    old sender left `sending` without a lease becomes pending and due; the others keep their
    status, attempts and outcome."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = ("integrations", "0003_webhook_deliveries_held")
    after = ("integrations", "0004_webhooks_outbox_rows")
    incident = declare(actor=ic_user)
    event = incident.timeline.get(kind=TimelineKind.DECLARED)
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    sub = old.get_model("integrations", "WebhookSubscription").objects.create(
        name="siem", url="https://example.invalid/hook", events=["declared"]
    )
    later = timezone.now() + timedelta(minutes=5)
    rows = old.get_model("integrations", "WebhookDelivery").objects
    for status, lease in [
        ("sending", None),
        ("sending", later),
        ("sent", None),
        ("failed", None),
        ("held", None),
        ("pending", None),
    ]:
        rows.create(
            subscription=sub,
            incident_id=incident.pk,
            timeline_event_id=event.pk,
            event="declared",
            payload={"event": "incident.declared", "status": status},
            idempotency_key=f"k-{status}-{lease is not None}",
            status=status,
            attempts=3,
            next_attempt_at=later,
            lease_until=lease,
            last_error="HTTP 503" if status == "failed" else "",
            response_code=503 if status == "failed" else None,
            created_at=timezone.now(),
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([after])
    new = executor.loader.project_state([after]).apps.get_model("integrations", "WebhookDelivery")
    assert dict(new.objects.values_list("idempotency_key", "status")) == {
        "k-sending-False": "pending",
        "k-sending-True": "sending",
        "k-sent-False": "sent",
        "k-failed-False": "failed",
        "k-held-False": "held",
        "k-pending-False": "pending",
    }
    stuck = new.objects.get(idempotency_key="k-sending-False")
    assert stuck.next_attempt_at <= timezone.now() and stuck.attempts == 3
    failed = new.objects.get(idempotency_key="k-failed-False")
    assert (failed.attempts, failed.last_error, failed.response_code) == (3, "HTTP 503", 503)
    assert failed.payload == {"event": "incident.declared", "status": "failed"}
    assert new.objects.filter(next_attempt_at=later).count() == 5
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_outbox_sweep_covers_webhooks_and_the_old_entry_is_gone(settings):
    from incidents.outbox import OUTBOX_KINDS

    assert OUTBOX_KINDS[KIND].model is WebhookDelivery
    assert OUTBOX_KINDS[KIND].ordering_key == ("subscription_id", "incident_id")
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "incidents.tasks.outbox_sweep_task" in tasks
    assert not [task for task in tasks if task.startswith("integrations.tasks.sweep")]


# --- Standard Webhooks ---------------------------------------------------------------------------
def test_receivers_verify_deliveries_with_the_standard_webhooks_library(
    api, sre_lead, ic_user, http_target, allow_local
):
    """A receiver that knows only the Standard Webhooks spec verifies every delivery with its
    library and the `standard_webhooks_secret` shown at subscription; a retry keeps its
    webhook-id (the receiver's idempotency key); a body changed on the way fails."""
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    created = api(sre_lead).post(
        "/api/v1/webhooks/",
        {"name": "siem", "url": http_target.url, "events": ["declared"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    receiver = Webhook(created.json()["standard_webhooks_secret"])
    incident = declare(actor=ic_user)
    delivery = WebhookDelivery.objects.get()
    http_target.respond(503)
    assert webhook_deliver(delivery.pk) == "pending"
    due_now(delivery)
    assert webhook_deliver(delivery.pk) == "sent"

    first, second = http_target.received
    for received in (first, second):
        body = receiver.verify(received.body, received.headers)
        assert (body["event"], body["incident"]["id"]) == ("incident.declared", incident.pk)
        assert received.headers["webhook-id"] == delivery.idempotency_key
    with pytest.raises(WebhookVerificationError):
        receiver.verify(first.body.replace(b"declared", b"resolved"), first.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "c2VjcmV0" * 4).verify(first.body, first.headers)  # another key
