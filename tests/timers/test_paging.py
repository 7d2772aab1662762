"""Paging: one Page row per person and contact method, written before the send and holding the
outcome; email, Slack-compatible and HMAC-signed JSON webhooks against a real local server;
retries with backoff on timeouts, 5xx and 429, none on other 4xx; outgoing addresses checked;
drills record and send nothing; the signed one-click acknowledge link; manual escalation (5.4)
and paging a responder (9.3)."""

import hashlib
import hmac
import json
import re
from datetime import timedelta

import pytest
from django.db import transaction

from incidents import services
from incidents.models import ContactMethod, Deadline, Page, PolicySettings, TimelineEvent
from incidents.outbox import outbox_deliver, outbox_requeue_stale
from incidents.services.paging import KIND as PAGE
from incidents.services.paging import ack_token, pages_build
from incidents.states import Role, TimelineKind
from tests.factories import UserFactory, declare
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db

ACK_LINK = re.compile(r"http://testserver-base/ack/([^/\s]+)/")


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.PUBLIC_BASE_URL = "http://testserver-base"


@pytest.fixture
def p3(org, ic, gateway, frozen, sweep):
    """A P3 declared at T0 and its declaration notice fired: pages alice (the on-call)."""

    def make(**fields):
        incident = declare(actor=ic, severity="P3", services=gateway, **fields)
        sweep(T0)
        return incident

    return make


def only_page(incident, **filters) -> Page:
    return Page.objects.get(incident=incident, **filters)


def contact(user, kind, target, secret=""):
    return ContactMethod.objects.create(user=user, kind=kind, target=target, secret=secret)


# --- email ---------------------------------------------------------------------------------------
def test_email_page_has_severity_reference_and_acknowledge_link(p3, mailoutbox, client):
    incident = p3(title="Disk filling on db-3")
    page = only_page(incident)
    assert (page.channel, page.target, page.status, page.attempts) == (
        "email",
        "alice@tensafe.test",
        "pending",
        0,
    )
    assert page.idempotency_key == f"inc{incident.pk}:notify:P3:u{page.recipient_id}:email"

    assert outbox_deliver(PAGE, page.pk) == "sent"

    (mail,) = mailoutbox
    assert mail.to == ["alice@tensafe.test"]
    assert mail.subject == f"[P3] INC-{incident.pk} Disk filling on db-3 — P3 declared"
    assert mail.extra_headers["X-TenSafe-Idempotency-Key"] == page.idempotency_key
    assert f"INC-{incident.pk}: Disk filling on db-3" in mail.body
    assert "Why you are paged: P3 declared" in mail.body
    token = ACK_LINK.search(mail.body).group(1)
    assert client.get(f"/ack/{token}/").status_code == 200
    page.refresh_from_db()
    assert (page.status, page.attempts, page.sent_at, page.lease_until) == ("sent", 1, T0, None)
    # Delivering again does nothing: the page is no longer pending.
    assert outbox_deliver(PAGE, page.pk) == "skipped"
    assert len(mailoutbox) == 1


def test_email_that_cannot_be_sent_is_retried(p3, settings):
    import socket

    with socket.socket() as s:  # an SMTP port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    page = only_page(p3())
    assert outbox_deliver(PAGE, page.pk) == "pending"
    page.refresh_from_db()
    assert page.attempts == 1
    assert page.last_error.startswith("email failed: ConnectionRefusedError")
    assert page.next_attempt_at == T0 + timedelta(seconds=2)


def test_each_contact_method_is_its_own_page(org, p3, http_target, allow_local):
    contact(org.primary, "email", "alice@pager.test")
    contact(org.primary, "slack", f"{http_target.url}/slack")
    contact(org.primary, "webhook", f"{http_target.url}/hook", secret="k")
    ContactMethod.objects.create(user=org.primary, kind="email", target="off@x.test", enabled=False)
    incident = p3()
    pages = Page.objects.filter(incident=incident).order_by("id")
    assert [(p.channel, p.target) for p in pages] == [
        ("email", "alice@pager.test"),
        ("slack", f"{http_target.url}/slack"),
        ("webhook", f"{http_target.url}/hook"),
    ]
    assert len({p.idempotency_key for p in pages}) == 3


def test_page_handed_over_after_commit_is_delivered(
    org, ic, gateway, frozen, mailoutbox, eager_pages, django_capture_on_commit_callbacks
):
    from incidents.services.timers import deadlines_fire_due

    incident = declare(actor=ic, severity="P3", services=gateway)
    with django_capture_on_commit_callbacks(execute=True):
        deadlines_fire_due(now=T0)
    assert [m.to for m in mailoutbox] == [["alice@tensafe.test"]]
    assert only_page(incident).status == "sent"


# --- Slack and JSON webhooks ---------------------------------------------------------------------
def test_slack_page_posts_text_with_idempotency_key(org, p3, http_target, allow_local):
    contact(org.primary, "slack", f"{http_target.url}/services/T0/B0/x")
    incident = p3()
    page = only_page(incident)
    assert outbox_deliver(PAGE, page.pk) == "sent"
    (request,) = http_target.received
    assert request.path == "/services/T0/B0/x"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == page.idempotency_key
    assert request.json() == {"text": f"*{page.subject}*\n{page.body}"}
    page.refresh_from_db()
    assert (page.status, page.response_code, page.last_error) == ("sent", 200, "")


def test_webhook_page_is_signed_with_hmac_sha256(org, p3, http_target, allow_local):
    contact(org.primary, "webhook", f"{http_target.url}/hook", secret="s3cret")
    incident = p3()
    page = only_page(incident)
    assert outbox_deliver(PAGE, page.pk) == "sent"
    (request,) = http_target.received
    timestamp = request.headers["x-tensafe-timestamp"]
    assert timestamp == str(int(T0.timestamp()))
    expected = hmac.new(
        b"s3cret", f"{timestamp}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-tensafe-signature"] == f"sha256={expected}"
    wrong = hmac.new(b"other", f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-tensafe-signature"] != f"sha256={wrong}"
    assert request.headers["idempotency-key"] == page.idempotency_key
    body = request.json()
    assert body["event"] == "page"
    assert body["drill"] is False
    assert body["reason"] == "P3 declared"
    assert body["incident"]["reference"] == f"INC-{incident.pk}"
    assert body["incident"]["severity"] == "P3"
    assert body["incident"]["detected_at"] == T0.isoformat()
    assert ACK_LINK.fullmatch(body["acknowledge_url"])


# --- retries -------------------------------------------------------------------------------------
@pytest.fixture
def hook_page(org, p3, http_target, allow_local):
    contact(org.primary, "webhook", f"{http_target.url}/hook", secret="k")
    return only_page(p3())


def test_500_is_retried_after_a_backoff(hook_page, http_target, frozen):
    http_target.respond(500)
    assert outbox_deliver(PAGE, hook_page.pk) == "pending"
    hook_page.refresh_from_db()
    assert (hook_page.attempts, hook_page.response_code, hook_page.last_error) == (
        1,
        500,
        "HTTP 500",
    )
    assert hook_page.next_attempt_at == T0 + timedelta(seconds=2)
    assert hook_page.lease_until is None
    frozen.move_to(T0 + timedelta(seconds=1), tick=False)
    assert outbox_deliver(PAGE, hook_page.pk) == "skipped"  # not due yet
    frozen.move_to(T0 + timedelta(seconds=2), tick=False)
    assert outbox_deliver(PAGE, hook_page.pk) == "sent"
    hook_page.refresh_from_db()
    assert (hook_page.attempts, hook_page.status, hook_page.response_code) == (2, "sent", 200)
    assert len(http_target.received) == 2
    # The retry carries the same idempotency key, so the receiver can drop a duplicate.
    assert {r.headers["idempotency-key"] for r in http_target.received} == {
        hook_page.idempotency_key
    }


@pytest.mark.parametrize(("retry_after", "delay"), [(30, 30), (1, 2), (9999, 300)])
def test_429_honours_retry_after(hook_page, http_target, retry_after, delay):
    http_target.respond(("429", retry_after))
    assert outbox_deliver(PAGE, hook_page.pk) == "pending"
    hook_page.refresh_from_db()
    assert hook_page.response_code == 429
    assert hook_page.next_attempt_at == T0 + timedelta(seconds=delay)


def test_timeout_is_retried(hook_page, http_target, settings):
    settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS = 0.2
    http_target.respond(("slow", 1.0))
    assert outbox_deliver(PAGE, hook_page.pk) == "pending"
    hook_page.refresh_from_db()
    assert (hook_page.attempts, hook_page.last_error, hook_page.response_code) == (
        1,
        "timed out",
        None,
    )
    assert hook_page.next_attempt_at == T0 + timedelta(seconds=2)


def test_backoff_doubles_then_fails_after_max_attempts(hook_page, http_target, frozen):
    http_target.respond(*[503] * 6)
    at, delays = T0, []
    for attempt in range(1, 6):
        assert outbox_deliver(PAGE, hook_page.pk) == "pending"
        hook_page.refresh_from_db()
        assert hook_page.attempts == attempt
        delays.append((hook_page.next_attempt_at - at).total_seconds())
        at = hook_page.next_attempt_at
        frozen.move_to(at, tick=False)
    assert delays == [2, 4, 8, 16, 32]
    assert outbox_deliver(PAGE, hook_page.pk) == "failed"
    hook_page.refresh_from_db()
    assert (hook_page.status, hook_page.attempts) == ("failed", 6)
    assert len(http_target.received) == 6
    (event,) = TimelineEvent.objects.filter(
        incident=hook_page.incident, kind=TimelineKind.PAGE_FAILED
    )
    assert event.text == "Page to alice via webhook failed after 6 attempt(s): HTTP 503"
    assert outbox_deliver(PAGE, hook_page.pk) == "skipped"


def test_404_is_not_retried_and_the_failure_is_on_the_timeline(hook_page, http_target):
    http_target.respond(404)
    assert outbox_deliver(PAGE, hook_page.pk) == "failed"
    hook_page.refresh_from_db()
    assert (hook_page.status, hook_page.attempts, hook_page.response_code) == ("failed", 1, 404)
    (event,) = TimelineEvent.objects.filter(
        incident=hook_page.incident, kind=TimelineKind.PAGE_FAILED
    )
    assert event.text == "Page to alice via webhook failed after 1 attempt(s): HTTP 404"
    assert event.data == {"page": hook_page.pk, "error": "HTTP 404", "code": 404}
    assert len(http_target.received) == 1


def test_connection_refused_is_retried(org, p3, allow_local):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    contact(org.primary, "webhook", f"http://127.0.0.1:{port}/hook", secret="k")
    page = only_page(p3())
    assert outbox_deliver(PAGE, page.pk) == "pending"
    page.refresh_from_db()
    assert page.last_error.startswith("connection failed")


# --- outgoing address checks ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("{local}/hook", "127.0.0.1"),
        ("http://10.1.2.3/hook", "10.1.2.3"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://localhost:{port}/hook", "127.0.0.1"),
        ("http://192.168.0.10/hook", "192.168.0.10"),
    ],
)
def test_private_addresses_are_refused_without_allow_list(
    org, p3, http_target, no_allowlist, url, address
):
    port = http_target.server.server_address[1]
    contact(org.primary, "webhook", url.format(local=http_target.url, port=port), secret="k")
    page = only_page(p3())
    assert outbox_deliver(PAGE, page.pk) == "failed"
    page.refresh_from_db()
    assert page.status == "failed"
    assert f"resolves to non-public address {address}" in page.last_error
    assert "TENSAFE_OUTBOUND_ALLOWLIST" in page.last_error
    assert http_target.received == []
    (event,) = TimelineEvent.objects.filter(incident=page.incident, kind=TimelineKind.PAGE_FAILED)
    assert "non-public address" in event.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}\\@1.1.1.1/x",  # urlsplit: 1.1.1.1; the HTTP client: 127.0.0.1
        "http://a@127.0.0.1:{port}/x",
    ],
)
def test_a_contact_method_saved_before_the_url_checks_is_refused_at_send_time(
    org, p3, http_target, settings, url
):
    """The row is written directly, as the API wrote it before the checks; the page is refused
    when sent, whatever the allow-list says, and the receiver gets nothing."""
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"] if "a@" in url else []
    port = http_target.server.server_address[1]
    contact(org.primary, "slack", url.format(port=port))
    page = only_page(p3())
    assert outbox_deliver(PAGE, page.pk) == "failed"
    page.refresh_from_db()
    assert "backslash" in page.last_error or "user information" in page.last_error
    assert http_target.received == []


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.0/8"])
def test_allow_listed_addresses_are_reached(org, p3, http_target, settings, entry):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = [entry]
    contact(org.primary, "slack", f"{http_target.url}/slack")
    page = only_page(p3())
    assert outbox_deliver(PAGE, page.pk) == "sent"
    assert len(http_target.received) == 1


# --- idempotency and the sweeper's safety net ----------------------------------------------------
def test_building_the_same_pages_twice_creates_nothing_new(org, ic, gateway, frozen):
    incident = declare(actor=ic, severity="P3", services=gateway)
    people = [("on_call", org.primary), ("backup_on_call", org.backup)]
    with transaction.atomic():
        first, _ = pages_build(
            incident, deadline=None, rule_key="manual:x", reason="r", people=people, at=T0
        )
    with transaction.atomic():
        second, _summary = pages_build(
            incident, deadline=None, rule_key="manual:x", reason="r", people=people, at=T0
        )
    assert len(first) == 2
    assert second == []
    assert Page.objects.filter(incident=incident, rule_key="manual:x").count() == 2
    # A different rule is a different reason to page: new rows.
    third, _ = pages_build(
        incident, deadline=None, rule_key="manual:y", reason="r", people=people, at=T0
    )
    assert len(third) == 2


def make_page(incident, user, n, **fields) -> Page:
    defaults = {
        "rule_key": f"test:{n}",
        "channel": "email",
        "target": user.email,
        "subject": "s",
        "body": "b",
        "idempotency_key": f"test-{n}",
        "created_at": T0 - timedelta(minutes=5),
        "next_attempt_at": T0 - timedelta(minutes=5),
    }
    return Page.objects.create(incident=incident, recipient=user, **{**defaults, **fields})


def test_requeue_resets_dead_sends_and_re_hands_lost_pages(org, ic, gateway, frozen):
    incident = declare(actor=ic, severity="P4", services=gateway)
    user = org.primary
    dead = make_page(
        incident, user, 1, status="sending", attempts=1, lease_until=T0 - timedelta(seconds=1)
    )
    busy = make_page(
        incident, user, 2, status="sending", attempts=1, lease_until=T0 + timedelta(seconds=30)
    )
    lost = make_page(incident, user, 3, next_attempt_at=T0 - timedelta(seconds=11))
    fresh = make_page(incident, user, 4, next_attempt_at=T0 - timedelta(seconds=5))
    done = make_page(incident, user, 5, status="sent")

    assert sorted(outbox_requeue_stale(PAGE, now=T0)) == sorted([dead.pk, lost.pk])
    for page in (dead, busy, lost, fresh, done):
        page.refresh_from_db()
    assert (dead.status, dead.lease_until, dead.next_attempt_at, dead.attempts) == (
        "pending",
        None,
        T0,
        1,
    )
    assert (busy.status, busy.lease_until) == ("sending", T0 + timedelta(seconds=30))
    assert (lost.status, lost.next_attempt_at) == ("pending", T0)
    assert fresh.next_attempt_at == T0 - timedelta(seconds=5)
    assert done.status == "sent"
    # Re-handed once per grace period, not on every sweep.
    assert outbox_requeue_stale(PAGE, now=T0 + timedelta(seconds=1)) == []
    assert outbox_requeue_stale(PAGE, now=T0 + timedelta(seconds=5)) == [fresh.pk]
    assert sorted(outbox_requeue_stale(PAGE, now=T0 + timedelta(seconds=10))) == sorted(
        [dead.pk, lost.pk]
    )


def test_a_page_being_sent_is_not_sent_again(p3, mailoutbox):
    page = only_page(p3())
    Page.objects.filter(pk=page.pk).update(status="sending", lease_until=T0 + timedelta(seconds=60))
    assert outbox_deliver(PAGE, page.pk) == "skipped"
    assert mailoutbox == []


def test_pages_are_the_outbox_kind_page():
    """Pages are claimed, sent, retried and re-handed by the core outbox like every kind."""
    from incidents.outbox import outbox_kind
    from incidents.services.paging import PageSender

    spec = outbox_kind(PAGE)
    assert spec.model is Page and isinstance(spec.sender, PageSender)
    policy = spec.policy
    assert (policy.attempts, policy.base_seconds, policy.cap_seconds) == (6, 2, 300)
    assert (policy.lease_seconds, policy.requeue_grace_seconds) == (60, 10)
    assert spec.incident_path == "incident" and not spec.many_incidents
    assert Page._meta.get_field("idempotency_key").max_length == 200


def test_a_page_the_old_code_left_sending_without_a_lease_is_sent_again(org, ic, gateway, frozen):
    """Before the outbox a page `sending` always had a lease; one without (a half-written
    row) becomes pending and due at the first sweep instead of staying stuck."""
    incident = declare(actor=ic, severity="P4", services=gateway)
    stuck = make_page(incident, org.primary, 1, status="sending", attempts=1, lease_until=None)
    assert outbox_requeue_stale(PAGE, now=T0) == [stuck.pk]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.lease_until, stuck.next_attempt_at) == ("pending", None, T0)


def test_messages_of_the_old_task_names_are_served_by_the_outbox(p3, mailoutbox, monkeypatch):
    """`deliver_page_task` and `requeue_stale_pages_task`, queued by code from before pages
    were outbox rows (a timers worker not yet upgraded), still send and re-hand pages."""
    from incidents.tasks import deliver_page_task, requeue_stale_pages_task

    handed = []
    monkeypatch.setattr(
        "incidents.tasks.outbox_deliver_task.delay", lambda *args: handed.append(args)
    )
    page = only_page(p3())
    Page.objects.filter(pk=page.pk).update(next_attempt_at=T0 - timedelta(seconds=11))
    assert requeue_stale_pages_task() == 1
    assert handed == [(PAGE, page.pk)]
    assert deliver_page_task(page.pk) == "sent"
    assert deliver_page_task(page.pk) == "skipped"
    assert [m.extra_headers["X-TenSafe-Idempotency-Key"] for m in mailoutbox] == [
        page.idempotency_key
    ]


def test_the_timer_sweep_sends_nothing_to_the_page_workers(monkeypatch, frozen):
    """Re-handing lost pages is the outbox sweep's (beat's `sweep-outbox`): the timer sweep
    fires deadlines and hands nothing else to the broker, so it never waits on one."""
    from celery.app.task import Task

    from incidents import tasks

    sent = []
    monkeypatch.setattr(Task, "apply_async", lambda self, *a, **k: sent.append(self.name))
    monkeypatch.setattr(tasks, "SWEEP_SECONDS", 0.0)
    assert tasks.sweep_timers_task() == 0
    assert sent == []


# --- drills --------------------------------------------------------------------------------------
def test_drill_pages_are_recorded_and_suppressed(
    org, ic, gateway, frozen, sweep, mailoutbox, http_target, allow_local
):
    contact(org.backup, "webhook", f"{http_target.url}/hook", secret="k")
    incident = declare(actor=ic, severity="P2", services=gateway, drill=True)
    sweep(T0 + timedelta(minutes=15))
    pages = list(Page.objects.filter(incident=incident))
    assert sorted((p.rule_key.split(":")[0], p.recipient.username, p.status) for p in pages) == [
        ("notify", "alice", "suppressed"),
        ("notify", "bob", "suppressed"),
        ("notify", "emma-em", "suppressed"),
        ("rule", "bob", "suppressed"),
    ]
    for page in pages:
        assert outbox_deliver(PAGE, page.pk) == "skipped"
        assert page.subject.startswith("[DRILL] ")
        assert page.body.startswith("DRILL — this is a game-day exercise.")
    assert mailoutbox == []
    assert http_target.received == []
    assert outbox_requeue_stale(PAGE, now=T0 + timedelta(hours=1)) == []


# --- the one-click acknowledge link --------------------------------------------------------------
@pytest.fixture
def paged_p1(org, ic, gateway, frozen, sweep):
    incident = declare(actor=ic, severity="P1", services=gateway)
    sweep(T0)
    page = Page.objects.get(incident=incident, recipient=org.primary)
    return incident, ACK_LINK.search(page.body).group(1)


def test_ack_link_get_shows_a_button_and_changes_nothing(client, paged_p1):
    incident, token = paged_p1
    response = client.get(f"/ack/{token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acknowledge as alice" in html
    assert f"INC-{incident.pk}" in html
    assert '<form method="post">' in html
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_ack_link_post_acknowledges_and_replans(client, paged_p1, org, frozen):
    incident, token = paged_p1
    frozen.move_to(T0 + timedelta(minutes=2), tick=False)
    response = client.post(f"/ack/{token}/")
    assert response.status_code == 200
    assert "Acknowledged" in response.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_at == T0 + timedelta(minutes=2)
    assert incident.acknowledged_by == org.primary
    event = TimelineEvent.objects.get(incident=incident, kind=TimelineKind.ACKNOWLEDGED)
    assert event.text == "Acknowledged by alice (page link)"
    pending = Deadline.objects.filter(incident=incident, status="pending")
    assert sorted(d.data["trigger"] for d in pending) == ["open", "open", "over_target"]
    # A second click keeps the first acknowledgement.
    frozen.move_to(T0 + timedelta(minutes=3), tick=False)
    assert client.post(f"/ack/{token}/").status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_at == T0 + timedelta(minutes=2)


def test_ack_link_works_from_a_browser_with_csrf_checks(paged_p1, org):
    from django.test import Client

    incident, token = paged_p1
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(f"/ack/{token}/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert browser.post(f"/ack/{token}/").status_code == 403  # no CSRF token: refused
    response = browser.post(f"/ack/{token}/", {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_by == org.primary


def test_ack_link_expires_after_the_policy_hours(client, paged_p1, frozen):
    incident, token = paged_p1
    PolicySettings.objects.filter(pk=1).update(ack_link_valid_hours=2)
    frozen.move_to(T0 + timedelta(hours=2) - timedelta(seconds=1), tick=False)
    assert client.get(f"/ack/{token}/").status_code == 200
    frozen.move_to(T0 + timedelta(hours=2, seconds=1), tick=False)
    for response in (client.get(f"/ack/{token}/"), client.post(f"/ack/{token}/")):
        assert response.status_code == 404
        assert (
            "This acknowledge link has expired (links are valid for 2 hours)."
            in response.content.decode()
        )
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


@pytest.mark.parametrize("forge", ["flip", "garbage", "other-salt"])
def test_forged_ack_link_is_404(client, paged_p1, forge):
    from django.core import signing

    incident, token = paged_p1
    if forge == "flip":
        bad = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif forge == "garbage":
        bad = "not-a-token"
    else:
        bad = signing.dumps({"i": incident.pk, "u": incident.declared_by_id}, salt="something.else")
    for response in (client.get(f"/ack/{bad}/"), client.post(f"/ack/{bad}/")):
        assert response.status_code == 404
        assert "This acknowledge link is not valid." in response.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_pages_after_acknowledgement_carry_no_acknowledge_link(org, ic, gateway, frozen, sweep):
    incident = declare(actor=ic, severity="P1", services=gateway)
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    sweep(T0 + timedelta(minutes=30))
    (page,) = Page.objects.filter(incident=incident, recipient=org.vp, rule_key__startswith="rule:")
    assert "Why you are paged: P1 open > 30 min" in page.body
    assert "Acknowledge:" not in page.body
    assert page.payload["acknowledge_url"] is None
    assert "Status: Investigating" in page.body


def test_ack_token_names_the_incident_and_the_person(paged_p1, org):
    incident, token = paged_p1
    from incidents.services.paging import ack_token_read

    assert ack_token_read(token, 3600) == (incident.pk, org.primary.pk)
    assert ack_token(incident, org.primary) == token


# --- manual escalation (5.2, 5.4) and paging a responder (9.3) -----------------------------------
def escalate(api, user, incident, **body):
    return api(user).post(f"/api/v1/incidents/{incident.pk}/escalate/", body, format="json")


def test_manual_escalation_fills_the_template_and_pages(api, org, ic, gateway, frozen, mailoutbox):
    incident = declare(actor=ic, severity="P1", services=gateway, title="Payments failing")
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.TECH_LEAD, user=org.primary
    )
    frozen.move_to(T0 + timedelta(minutes=65), tick=False)
    response = escalate(
        api,
        ic,
        incident,
        target="vp_engineering",
        reason="Card processor outage needs a vendor call",
        requested_action="Call the processor's account team",
    )
    assert response.status_code == 201, response.content
    event = response.json()
    assert event["kind"] == "escalation_requested"
    assert event["data"]["response_minutes"] == 15
    request = event["data"]["request"]
    assert request.splitlines() == [
        "ESCALATION REQUEST",
        "",
        f"Incident: INC-{incident.pk} Payments failing",
        "Severity: P1",
        "Duration: 1 h 05 min since detection",
        "Current Status: Investigating",
        "",
        "Reason for Escalation:",
        "Card processor outage needs a vendor call",
        "",
        "Requested Action:",
        "Call the processor's account team",
        "",
        "Current Team:",
        "- IC: ian-ic",
        "- Tech Lead: alice",
        "- Others: (none)",
        "",
        f"Bridge: {incident.bridge_url} ({incident.channel_name})",
    ]
    (page,) = Page.objects.filter(incident=incident, rule_key__startswith="manual:")
    assert page.recipient == org.vp
    assert page.body.startswith(request)
    # ian-ic took the IC role, which acknowledged the incident: no acknowledge link.
    assert "Acknowledge:" not in page.body
    assert outbox_deliver(PAGE, page.pk) == "sent"
    assert mailoutbox[-1].subject.startswith(
        f"[P1] INC-{incident.pk} Payments failing — Escalation request"
    )


def test_ceo_is_for_p1_only(api, org, ic, gateway, frozen):
    p2 = declare(actor=ic, severity="P2", services=gateway)
    response = escalate(api, ic, p2, target="ceo", reason="board asks")
    assert response.status_code == 400
    assert response.json()["rule"] == "CEO (P1 only)"
    assert not Page.objects.filter(incident=p2, rule_key__startswith="manual:").exists()
    p1 = declare(actor=ic, severity="P1", services=gateway, title="Everything down")
    response = escalate(
        api,
        ic,
        p1,
        target="ceo",
        reason="customer-facing outage",
        requested_action="Call the customers",
    )
    assert response.status_code == 201
    (page,) = Page.objects.filter(incident=p1, rule_key__startswith="manual:")
    assert page.recipient == org.ceo


def test_a_manual_escalation_is_sent_to_escalated_webhooks(api, org, ic, gateway, frozen):
    """Integrations subscribed to `escalated` hear of a manual request (5.4) as of a timer's;
    the timeline event's kind tells them apart."""
    from integrations.models import WebhookDelivery, WebhookSubscription

    WebhookSubscription.objects.create(
        name="siem", url="https://hooks.example.com/ir", events=["escalated"]
    )
    WebhookSubscription.objects.create(
        name="chat", url="https://hooks.example.com/x", events=["declared"]
    )
    incident = declare(actor=ic, severity="P1", services=gateway, title="Payments failing")
    response = escalate(api, ic, incident, target="vp_engineering", reason="Vendor call needed")
    assert response.status_code == 201, response.content

    (delivery,) = WebhookDelivery.objects.filter(event="escalated")
    assert delivery.subscription.name == "siem"
    assert delivery.timeline_event.kind == "escalation_requested"
    assert delivery.timeline_event.text.startswith("Escalation to VP Engineering requested")
    assert delivery.incident == incident


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "vp_engineering", "reason": ""}, "reason"),
        ({"target": "intern", "reason": "x"}, "target"),
        ({"target": "vp_engineering"}, "reason"),
        ({"target": "cto", "reason": "x", "urgency": "high"}, "urgency"),
    ],
)
def test_bad_escalation_requests_are_400(api, org, ic, gateway, frozen, body, field):
    incident = declare(actor=ic, severity="P1", services=gateway)
    response = escalate(api, ic, incident, **body)
    assert response.status_code == 400
    assert field in response.json()


def test_viewers_cannot_escalate(api, org, ic, viewer, gateway, frozen):
    incident = declare(actor=ic, severity="P1", services=gateway)
    assert escalate(api, viewer, incident, target="cto", reason="x").status_code == 403


def test_page_a_responder(api, org, ic, gateway, frozen):
    incident = declare(actor=ic, severity="P2", services=gateway)
    response = api(ic).post(
        f"/api/v1/incidents/{incident.pk}/page/",
        {"username": "carol", "reason": "need the DB expert"},
        format="json",
    )
    assert response.status_code == 201, response.content
    event = response.json()
    assert event["kind"] == "paged"
    assert event["text"] == "Paged carol: need the DB expert"
    (page,) = Page.objects.filter(incident=incident, rule_key__startswith="page:")
    assert page.recipient == org.third
    assert (
        page.subject
        == f"[P2] INC-{incident.pk} {incident.title} — Paged by ian-ic: need the DB expert"
    )
    assert event["data"]["pages"] == [page.pk]


def test_page_an_unknown_or_inactive_user_is_400(api, org, ic, gateway, frozen):
    incident = declare(actor=ic, severity="P2", services=gateway)
    gone = UserFactory(username="gone", is_active=False)
    url = f"/api/v1/incidents/{incident.pk}/page/"
    assert (
        api(ic).post(url, {"username": "nobody", "reason": "x"}, format="json").status_code == 400
    )
    response = api(ic).post(url, {"username": gone.username, "reason": "x"}, format="json")
    assert response.status_code == 400
    assert json.loads(response.content)["rule"] == "active user"


def test_a_manual_escalation_skips_whoever_already_holds_a_role(api, org, ic, gateway, frozen):
    """Escalating to the Engineering Manager who is already the Technical Lead pages nobody
    new: refused, naming why, and nothing is paged or recorded."""
    incident = declare(actor=ic, severity="P1", services=gateway)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.TECH_LEAD, user=org.em
    )
    events_before = TimelineEvent.objects.filter(incident=incident).count()

    response = escalate(api, ic, incident, target="engineering_manager", reason="need a call")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["rule"] == "escalation target resolvable"
    assert "skipped emma-em: already Technical Lead on this incident" in body["detail"]
    assert not Page.objects.filter(incident=incident, rule_key__startswith="manual:").exists()
    assert TimelineEvent.objects.filter(incident=incident).count() == events_before


def test_a_manual_escalation_pages_the_rest_and_says_whom_it_skipped(api, org, ic, gateway, frozen):
    from incidents.models import Service

    auth = Service.objects.get(slug="authentication")  # Security's backup is erin
    incident = declare(actor=ic, severity="P1", services=[*gateway, auth])
    services.incident_assign_role(actor=ic, incident_id=incident.pk, role=Role.SME, user=org.backup)
    response = escalate(api, ic, incident, target="backup_on_call", reason="need hands")
    assert response.status_code == 201, response.content
    event = response.json()
    assert "skipped bob: already Subject Matter Expert on this incident" in event["text"]
    assert event["data"]["skipped"] == [
        "skipped bob: already Subject Matter Expert on this incident"
    ]
    pages = Page.objects.filter(incident=incident, rule_key__startswith="manual:")
    assert sorted(pages.values_list("recipient__username", flat=True)) == ["erin"]
