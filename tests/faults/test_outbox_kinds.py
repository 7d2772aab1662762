"""The delivery outbox (incidents/outbox.py) under the three faults, for each kind of row moved
onto it (status-subscriber emails, PIR review digests, outgoing webhooks, pages): a worker
SIGKILLed mid-send, the workers' PostgreSQL sessions terminated again and again, Redis
restarted without persistence. Rows are sent by real worker subprocesses, emails through
Django's SMTP backend to a mail server on 127.0.0.1 (tests/faults/mailbox.py), webhooks and
pages (to a signed JSON webhook contact method, the pager) through the outbound HTTP client to
a receiver on 127.0.0.1 (tests/faults/conftest.py `Receiver`); both count each message by its
idempotency key, while a beat stand-in sends the outbox sweep (`sweep-outbox`) every second.

Each test checks 0 lost (every row sent, every key received) and 0 sent twice. Under SIGKILL
delivery is honestly at least once: a message the server took while its worker was being
killed is sent again once that row's lease has run out, with the same key, so a receiver that
dedupes by key acts on it once; the test checks that only such rows (those `sending` at the
kill) were received twice. The other two faults send nothing twice at all.

Outgoing webhooks have an ordering key (subscription, incident): ROWS deliveries over 3
subscriptions x 8 incidents, 10 events each. Besides 0 lost, each test checks that every
subscription received the events of each incident in the order they happened (a repeat of a
cut-off send arrives right after the first copy, before the next event).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from comms import subscribers
from comms.models import Subscriber, SubscriberDelivery, Update
from incidents.models import Incident, Page, TimelineEvent, User
from incidents.services import paging
from incidents.states import Status, TimelineKind
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services import outgoing
from pir import digests
from pir.models import ActionDigestDelivery

from .conftest import (
    Receiver,
    redis_client,
    redis_restart_without_persistence,
    rows_queued,
    wait_for,
)
from .mailbox import PORT_VARIABLE, Mailbox

ROWS = 240


# --- rows of each kind, due for longer than their grace period (the sweep hands them over) ----
def _due(policy) -> timezone.datetime:
    return timezone.now() - timedelta(seconds=policy.requeue_grace_seconds + 1)


def _incident(actor: User, title: str, channel: str) -> Incident:
    now = timezone.now()
    return Incident.objects.create(
        title=title,
        severity="P2",
        status=Status.INVESTIGATING,
        detection_source="monitoring",
        channel_name=channel,
        detected_at=now,
        declared_at=now,
        declared_by=actor,
    )


def subscriber_rows(count: int) -> None:
    tag = uuid.uuid4().hex[:8]
    actor = User.objects.create(username=f"faults-ic-{tag}")
    now = timezone.now()
    incident = _incident(actor, "Search errors", f"#inc-outbox-{tag}")
    Subscriber.objects.bulk_create(
        Subscriber(
            email=f"reader{i}-{tag}@faults.invalid",
            status=Subscriber.Status.CONFIRMED,
            created_at=now,
            confirmed_at=now,
        )
        for i in range(count)
    )
    update = Update.objects.create(
        incident=incident, channel=Update.Channel.STATUS_PAGE, text="Investigating.", posted_at=now
    )
    subscribers.deliveries_create(update, now=_due(subscribers.POLICY))


def digest_rows(count: int) -> None:
    tag = uuid.uuid4().hex[:8]
    managers = User.objects.bulk_create(
        User(
            username=f"faults-em{i}-{tag}",
            email=f"em{i}-{tag}@faults.invalid",
            rank="engineering_manager",
        )
        for i in range(count)
    )
    today, due = timezone.now().date(), _due(digests.POLICY)
    ActionDigestDelivery.objects.bulk_create(
        ActionDigestDelivery(
            manager=manager,
            priority="P1",
            period_start=today,
            period_end=today + timedelta(days=6),
            idempotency_key=f"pir-digest:action-P1:{today}:u{manager.pk}",
            to_address=manager.email,
            subject="[TenSafe IR] P1 action items to review",
            body="- [P1] Fix pool",
            next_attempt_at=due,
            created_at=due,
        )
        for manager in managers
    )


SUBSCRIPTIONS, INCIDENTS = 3, 8  # x 10 events each: ROWS webhook deliveries


def webhook_rows(count: int) -> None:
    """`count` deliveries of SUBSCRIPTIONS subscriptions x INCIDENTS incidents, the events of
    each incident in the order they happened (ids growing, as the reaction writes them)."""
    tag = uuid.uuid4().hex[:8]
    actor = User.objects.create(username=f"faults-ic-{tag}")
    now = timezone.now()
    subs = [
        WebhookSubscription.objects.create(
            name=f"faults-{tag}-{n}",
            url="http://127.0.0.1:9/not-yet",  # the receiver's, once it is started
            events=["status_changed"],
            secret="s3cret",
        )
        for n in range(SUBSCRIPTIONS)
    ]
    incidents = [
        _incident(actor, f"Queue backlog {i}", f"#inc-webhooks-{tag}-{i}") for i in range(INCIDENTS)
    ]
    events = TimelineEvent.objects.bulk_create(
        TimelineEvent(
            incident=incident,
            kind=TimelineKind.STATUS_CHANGED,
            occurred_at=now,
            recorded_at=now,
            actor=actor,
            text=f"Step {n}",
        )
        for incident in incidents
        for n in range(count // (SUBSCRIPTIONS * INCIDENTS))
    )
    due = _due(outgoing.POLICY)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=sub,
            incident_id=event.incident_id,
            timeline_event=event,
            event="status_changed",
            payload={"id": f"whd-s{sub.pk}-e{event.pk}", "event": "incident.status_changed"},
            idempotency_key=f"whd-s{sub.pk}-e{event.pk}",
            next_attempt_at=due,
            created_at=due,
        )
        for event in events
        for sub in subs
    )


def page_rows(count: int) -> None:
    """`count` pages about one P1, each to its own responder's signed JSON webhook (the
    pager), as the timer sweep writes them."""
    tag = uuid.uuid4().hex[:8]
    actor = User.objects.create(username=f"faults-ic-{tag}")
    incident = _incident(actor, "Checkout failing", f"#inc-pages-{tag}")
    people = User.objects.bulk_create(
        User(username=f"faults-oncall{i}-{tag}", email=f"oncall{i}-{tag}@faults.invalid")
        for i in range(count)
    )
    due = _due(paging.POLICY)
    Page.objects.bulk_create(
        Page(
            incident=incident,
            rule_key="rule:p1-open",
            recipient=person,
            channel="webhook",
            target="http://127.0.0.1:9/not-yet",  # the receiver's, once it is started
            secret="s3cret",
            subject=f"[P1] {incident.reference} Checkout failing",
            body="Why you are paged: P1 open",
            payload={"event": "page", "incident": {"id": incident.pk}},
            idempotency_key=f"inc{incident.pk}:rule:p1-open:u{person.pk}:m{person.pk}",
            next_attempt_at=due,
            created_at=due,
        )
        for person in people
    )


KINDS = {
    subscribers.KIND: (SubscriberDelivery, subscriber_rows),
    digests.KIND: (ActionDigestDelivery, digest_rows),
    outgoing.KIND: (WebhookDelivery, webhook_rows),
    paging.KIND: (Page, page_rows),
}
# Kinds whose rows are HTTP posts (the others are emails).
POSTED = {outgoing.KIND, paging.KIND}


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    """(kind, model) with ROWS rows of it written and due."""
    model, build = KINDS[request.param]
    build(ROWS)
    assert model.objects.filter(status="pending").count() == ROWS
    return request.param, model


@pytest.fixture
def receiver(kind):
    """receiver(delay=0.0) -> a started receiver of the kind's messages (a Mailbox, or for
    webhooks and pages a Receiver the subscriptions or pages point at), with the `env` its
    workers need; shut down at teardown. Each counts the keys it received (`keys`,
    `received()`, `twice()`)."""
    started: list[Mailbox | Receiver] = []

    def start(delay: float = 0.0) -> Mailbox | Receiver:
        if kind[0] in POSTED:
            box = Receiver(delay)
            box.env = {"TENSAFE_OUTBOUND_ALLOWLIST": "127.0.0.1"}
            WebhookSubscription.objects.update(url=box.url)
            Page.objects.update(target=box.url)
        else:
            box = Mailbox(delay)
            box.env = {
                "DJANGO_EMAIL_BACKEND": "tests.faults.mailbox.LocalSmtpBackend",
                PORT_VARIABLE: str(box.port),
            }
        box.thread.start()
        started.append(box)
        return box

    try:
        yield start
    finally:
        for box in started:
            box.server.shutdown()
            box.server.server_close()


def _by_status(model) -> dict:
    return dict(model.objects.values_list("status").annotate(n=Count("id")))


def _all_sent(model) -> bool:
    return model.objects.filter(status="sent").count() == ROWS


def _assert_none_lost(model, box: Mailbox | Receiver) -> None:
    assert _by_status(model) == {"sent": ROWS}
    keys = set(model.objects.values_list("idempotency_key", flat=True))
    assert set(box.keys) == keys, "every row reached the receiver, and nothing else did"


def _assert_in_order(kind_name: str, box: Mailbox | Receiver) -> None:
    """Outgoing webhooks: per (subscription, incident), the keys as they arrived, a repeat
    right after its first copy folded, are the deliveries in id order."""
    if kind_name != outgoing.KIND:
        return
    expected: dict[tuple, list[str]] = {}
    for sub, incident, key in WebhookDelivery.objects.order_by("pk").values_list(
        "subscription_id", "incident_id", "idempotency_key"
    ):
        expected.setdefault((sub, incident), []).append(key)
    group = {key: group for group, keys in expected.items() for key in keys}
    arrived: dict[tuple, list[str]] = {}
    for key in box.arrivals:
        mine = arrived.setdefault(group[key], [])
        if not mine or mine[-1] != key:
            mine.append(key)
    assert len(expected) == SUBSCRIPTIONS * INCIDENTS
    assert arrived == expected, "each subscription got each incident's events in order"


# --- the faults ---------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_worker_sigkilled_mid_send_loses_nothing_and_repeats_only_cut_off_sends(
    kind, receiver, celery_worker_process, dedicated_broker, sweeps
):
    kind_name, model = kind
    box = receiver(delay=0.05)  # each message is taken, then acknowledged 50 ms later
    broker = dedicated_broker()
    worker = celery_worker_process(broker, extra_env=box.env)
    sweeps(broker, every=1.0, entry="sweep-outbox")

    # 1. Kill the worker's whole process group once a quarter of the rows are sent and a send
    #    is in flight: the receiver then holds each message 2 s before answering, and the kill
    #    waits until it holds one, so that send is cut off however busy the machine is (a row
    #    merely seen `sending` could be a 50 ms send that finished before the kill).
    wait_for(
        lambda: box.received() > ROWS // 4,
        timeout=60,
        interval=0.02,
        what=lambda: f"a quarter of the rows sent\n{worker.tail()}",
    )
    box.delay = 2.0
    wait_for(
        lambda: box.holding > 0,  # a send held 2 s: its row is `sending` until the kill
        timeout=30,
        interval=0.02,
        what=lambda: f"a send held by the receiver\n{worker.tail()}",
    )
    worker.kill()
    box.delay = 0.05
    cut_off = set(model.objects.filter(status="sending").values_list("idempotency_key", flat=True))
    sent_before = model.objects.filter(status="sent").count()
    assert cut_off and 0 < sent_before < ROWS

    # 2. Time passes: the killed sends' leases run out (moved back here rather than waited for:
    #    a lease is a minute or more). A new worker; the sweep makes those rows due again and
    #    re-hands the hand-offs the killed worker had taken from Redis.
    model.objects.filter(status="sending").update(lease_until=timezone.now() - timedelta(seconds=1))
    worker = celery_worker_process(broker, extra_env=box.env)
    wait_for(
        lambda: _all_sent(model),
        timeout=90,
        interval=0.2,
        what=lambda: f"every row sent after the kill: {_by_status(model)}\n{worker.tail()}",
    )
    worker.stop()
    twice = box.twice()
    print(
        f"{kind_name}: killed with {sent_before} of {ROWS} sent and {len(cut_off)} in flight; "
        f"lost 0, received twice {len(twice)} (all of them cut off mid-send)"
    )
    _assert_none_lost(model, box)
    _assert_in_order(kind_name, box)
    assert set(twice) <= cut_off, "only a send cut off by the kill is received again"
    assert all(n == 2 for n in twice.values()), twice
    assert set(model.objects.values_list("attempts", flat=True)) <= {1, 2}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_connections_terminated_mid_send_lose_and_double_nothing(
    kind, receiver, celery_worker_process, dedicated_broker, sweeps, pg_terminator
):
    kind_name, model = kind
    box = receiver(delay=0.01)
    broker = dedicated_broker()
    # Every session each 0.5 s, and a busy one as soon as it is seen: a send's statements are
    # short, and the sender is idle between them.
    terminator = pg_terminator(0.5, busy_poll=0.02)
    worker = celery_worker_process(broker, concurrency=4, extra_env=box.env)
    started = time.monotonic()
    sweeps(broker, every=1.0, entry="sweep-outbox")

    terminator.armed.set()
    wait_for(
        lambda: box.received() >= ROWS * 3 // 4 and terminator.busy >= 5,
        timeout=90,
        interval=0.1,
        what=lambda: (
            f"sends under terminations ({terminator.busy} busy; {box.received()} of {ROWS} "
            f"received; {_by_status(model)})\n{worker.tail()}"
        ),
    )
    terminator.armed.clear()
    wait_for(
        lambda: _all_sent(model),
        timeout=120,
        interval=0.25,
        what=lambda: f"every row sent: {_by_status(model)}\n{worker.tail()}",
    )
    elapsed = time.monotonic() - started
    worker.stop()
    recovered = worker.log().count("database connection lost")
    print(
        f"{kind_name}: {terminator.terminated} worker sessions terminated in "
        f"{terminator.rounds} rounds ({terminator.busy} busy); {recovered} steps retried on a "
        f"new connection; lost 0, received twice {len(box.twice())}; {elapsed:.1f} s"
    )
    assert not terminator.errors, terminator.errors
    assert terminator.busy >= 5, "sessions were terminated while they worked"
    assert recovered > 0, "some work was carried on over a new connection"
    _assert_none_lost(model, box)
    _assert_in_order(kind_name, box)
    assert not box.twice(), f"received more than once: {box.twice()}"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_redis_restart_loses_hand_offs_not_rows(
    kind, receiver, celery_worker_process, dedicated_broker, sweeps, redis_running
):
    kind_name, model = kind
    box = receiver(delay=0.02)
    broker = dedicated_broker()
    queue = redis_client(broker)
    worker = celery_worker_process(broker, concurrency=1, extra_env=box.env)
    beat = sweeps(broker, every=1.0, entry="sweep-outbox")

    # 1. Once sends are flowing with a backlog of hand-offs in Redis, restart Redis without
    #    persistence: the backlog is gone.
    wait_for(
        lambda: box.received() > 0 and rows_queued(queue) > 50,
        timeout=60,
        interval=0.05,
        what=lambda: f"hand-offs queued in Redis\n{worker.tail()}",
    )
    lost = rows_queued(queue)
    run_id = queue.info("server")["run_id"]
    redis_restart_without_persistence(broker)
    assert queue.info("server")["run_id"] != run_id, "a new Redis server, holding nothing"
    sent_before = model.objects.filter(status="sent").count()

    # 2. The sweep hands the rows over again once their grace period has passed.
    wait_for(
        lambda: _all_sent(model),
        timeout=90,
        interval=0.25,
        what=lambda: f"every row sent after the restart: {_by_status(model)}\n{worker.tail()}",
    )
    worker.stop()
    print(
        f"{kind_name}: lost {lost} queued hand-offs with {sent_before} of {ROWS} sent; "
        f"{beat.sent} sweeps sent ({beat.failed} refused); lost 0, received twice "
        f"{len(box.twice())}"
    )
    assert lost > 0 and sent_before < ROWS
    _assert_none_lost(model, box)
    _assert_in_order(kind_name, box)
    assert not box.twice(), f"received more than once: {box.twice()}"
