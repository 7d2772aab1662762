"""The delivery outbox (incidents/outbox.py), through the kinds registered on it: a late worker
never overwrites the outcome of the one that took its row over, and never sends once its lease
has run out; a row a dead worker left `sending` is sent again, once; final failures are
logged; permanent refusals are not retried."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from comms import subscribers
from comms.models import SubscriberDelivery
from incidents.outbox import (
    BATCH_SEND_WINDOW,
    OUTBOX_KINDS,
    RetryPolicy,
    outbox_deliver,
    outbox_deliver_many,
    outbox_requeue_stale,
    outbox_sweep,
    register_outbox_kind,
)
from pir import digests
from pir.models import ActionDigestDelivery
from tests.comms.test_status_page import incident, post
from tests.comms.test_subscribers import confirmed
from tests.factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db


def subscriber_delivery() -> SubscriberDelivery:
    subscriber = confirmed()
    update = post(incident("P2", [ServiceFactory(slug="api", name="API")]), "Investigating.")
    return SubscriberDelivery.objects.get(update=update, subscriber=subscriber)


def digest(**fields) -> ActionDigestDelivery:
    manager = UserFactory(rank="engineering_manager", email="em@t.test")
    today = timezone.now().date()
    return ActionDigestDelivery.objects.create(
        manager=manager,
        priority="P1",
        period_start=today,
        period_end=today + timedelta(days=6),
        idempotency_key=f"pir-digest:action-P1:{today}:u{manager.pk}",
        to_address=manager.email,
        subject="P1 action items to review",
        body="- Fix pool",
        created_at=timezone.now(),
        **fields,
    )


# The idempotency key of outbox_rows()'s delivery about the restricted incident.
HIDDEN_KEY = "quartzite-hidden"


def outbox_rows() -> dict:
    """A pending status-subscriber delivery about a normal incident ("delivery"), one about a
    restricted (security) incident ("hidden", key HIDDEN_KEY), and a failed review digest
    about no one incident ("digest"): the operators' list as the API and the admin show it."""
    subscriber = confirmed()
    api_service = ServiceFactory(slug="api", name="API")
    normal = incident("P2", [api_service])
    update = post(normal, "Investigating.")
    secret = incident("P1", [api_service], security=True, title="Quartzite exfiltration")
    hidden_update = post(secret, "Investigating.")
    hidden = SubscriberDelivery.objects.create(
        update=hidden_update,
        subscriber=subscriber,
        idempotency_key=HIDDEN_KEY,
        created_at=hidden_update.posted_at,
    )
    return {
        "normal": normal,
        "secret": secret,
        "delivery": SubscriberDelivery.objects.get(update=update),
        "hidden": hidden,
        "digest": digest(status="failed", attempts=5, last_error="smtp down"),
    }


def test_a_late_worker_never_overwrites_the_outcome_of_the_one_that_took_over(
    monkeypatch, time_machine, no_hand_offs
):
    """Worker A's send outlives its lease; the sweep hands the row to worker B, whose try fails
    and is recorded (pending, attempt 2). A's late "sent" must not overwrite B's record."""
    delivery = subscriber_delivery()
    calls = []

    def send(message, *args, **kwargs):
        calls.append(message.to)
        if len(calls) == 1:  # worker A, mid-send: its lease runs out and B takes over
            time_machine.move_to(
                timezone.now() + timedelta(seconds=subscribers.POLICY.lease_seconds + 1)
            )
            assert outbox_requeue_stale(subscribers.KIND) == [delivery.pk]
            assert outbox_deliver(subscribers.KIND, delivery.pk) == "pending"
            return 1
        raise ConnectionRefusedError("smtp down")  # worker B's try

    monkeypatch.setattr("django.core.mail.EmailMessage.send", send)
    assert outbox_deliver(subscribers.KIND, delivery.pk) == "pending"  # A's outcome: not its own
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("pending", 2, None)
    assert "smtp down" in delivery.last_error and delivery.lease_until is None


def test_a_worker_whose_lease_ran_out_before_the_send_does_not_send(time_machine, no_hand_offs):
    """A worker that stalls between its claim and its send (here: the clock passes the lease
    right after the claim's UPDATE) leaves the row to the sweep instead of sending it."""
    delivery = subscriber_delivery()
    table = SubscriberDelivery._meta.db_table

    def stall_after_claim(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("UPDATE") and table in sql:
            time_machine.move_to(
                timezone.now() + timedelta(seconds=subscribers.POLICY.lease_seconds + 1)
            )
        return result

    with connection.execute_wrapper(stall_after_claim):
        assert outbox_deliver(subscribers.KIND, delivery.pk) == "skipped"
    assert mail.outbox == []
    delivery.refresh_from_db()
    assert delivery.status == "sending" and delivery.attempts == 1
    # The sweep makes it due again and the next worker sends it, once.
    assert outbox_requeue_stale(subscribers.KIND) == [delivery.pk]
    assert outbox_deliver(subscribers.KIND, delivery.pk) == "sent"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["X-TenSafe-Idempotency-Key"] == delivery.idempotency_key


def test_a_digest_left_sending_by_a_dead_worker_is_sent_once_after_its_lease(
    monkeypatch, time_machine, no_hand_offs
):
    row = digest()

    def killed(self, *args, **kwargs):
        raise SystemExit("worker killed mid-send")

    with monkeypatch.context() as patch:
        patch.setattr("django.core.mail.EmailMessage.send", killed)
        with pytest.raises(SystemExit):
            outbox_deliver(digests.KIND, row.pk)
    row.refresh_from_db()
    assert row.status == "sending" and row.lease_until is not None
    assert outbox_requeue_stale(digests.KIND) == []  # its lease has not run out: hands off
    time_machine.move_to(timezone.now() + timedelta(seconds=digests.POLICY.lease_seconds + 1))
    assert outbox_sweep() == {
        digests.KIND: 1,
        subscribers.KIND: 0,
        "comms-delivery": 0,
        "outgoing-webhook": 0,
        "page": 0,
        "slack-call": 0,
    }
    assert no_hand_offs[-1] == (digests.KIND, row.pk)
    assert outbox_deliver(digests.KIND, row.pk) == "sent"
    assert outbox_deliver(digests.KIND, row.pk) == "skipped"
    assert [m.extra_headers["X-Idempotency-Key"] for m in mail.outbox] == [row.idempotency_key]


def test_a_digest_failing_every_try_ends_failed_and_says_so(
    monkeypatch, time_machine, no_hand_offs, caplog
):
    row = digest()

    def broken(self, *args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    statuses = []
    for _ in range(digests.POLICY.attempts):
        with caplog.at_level(logging.WARNING, logger="incidents.outbox"):
            statuses.append(outbox_deliver(digests.KIND, row.pk))
        time_machine.move_to(timezone.now() + timedelta(seconds=digests.POLICY.cap_seconds))
    assert statuses == ["pending"] * (digests.POLICY.attempts - 1) + ["failed"]
    row.refresh_from_db()
    assert row.attempts == digests.POLICY.attempts and "smtp down" in row.last_error
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"outbox {digests.KIND} {row.pk}" in line.getMessage()
    assert "failed after 5 attempt(s)" in line.getMessage()


@pytest.mark.parametrize(("code", "expected"), [(550, "failed"), (451, "pending")])
def test_a_mail_server_refusing_for_good_is_not_asked_again(
    monkeypatch, no_hand_offs, code, expected
):
    delivery = subscriber_delivery()

    def refused(self, *args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({"reader@example.com": (code, b"no such user")})

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refused)
    assert outbox_deliver(subscribers.KIND, delivery.pk) == expected
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "SMTPRecipientsRefused" in delivery.last_error


def test_only_outbox_rows_with_a_sender_can_be_registered():
    policy = RetryPolicy(attempts=1, base_seconds=1, cap_seconds=1)
    with pytest.raises(TypeError, match="subclass of OutboxRow"):
        register_outbox_kind("x", model=UserFactory._meta.model, sender=object(), policy=policy)
    with pytest.raises(TypeError, match="no send"):
        register_outbox_kind("x", model=SubscriberDelivery, sender=object(), policy=policy)
    assert "x" not in OUTBOX_KINDS
    assert set(OUTBOX_KINDS) >= {subscribers.KIND, digests.KIND}


def test_beat_runs_the_one_sweep():
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-outbox"]
    assert entry["task"] == "incidents.tasks.outbox_sweep_task"
    tasks = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "comms.status.tasks.requeue_status_deliveries_task" not in tasks
    assert "incidents.tasks.requeue_stale_pages_task" not in tasks


def test_a_sweep_costs_the_same_statements_however_much_the_outbox_holds(no_hand_offs):
    """What beat runs every 2 s: a fixed number of statements per kind whatever the tables
    hold (bench/outbox_sweep.py measures them, and their plans, on PostgreSQL), rows to
    re-hand or not (their pick is one UPDATE … RETURNING)."""
    from django.test.utils import CaptureQueriesContext

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            outbox_sweep()
        control = ("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT")
        return len([q for q in queries.captured_queries if not q["sql"].startswith(control)])

    empty = statements()
    assert empty <= 3 * len(OUTBOX_KINDS)
    soon = timezone.now() + timedelta(minutes=5)
    for n in range(30):
        row = digest(status="sent" if n % 3 else "failed", attempts=1)
        if n % 5 == 0:
            type(row).objects.filter(pk=row.pk).update(status="pending", next_attempt_at=soon)
    assert statements() == empty and no_hand_offs == []
    lost = digest(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert statements() == empty
    assert no_hand_offs == [(digests.KIND, lost.pk)]


def test_one_sweep_re_hands_every_lost_row_a_lot_at_a_time(no_hand_offs):
    """After a broker restart every hand-off is lost at once: the first sweep past the grace
    period hands them all over again (here in lots of 3), each once, oldest first."""
    from incidents.outbox import outbox_requeue_stale

    long_ago = timezone.now() - timedelta(minutes=5)
    lost = [digest(next_attempt_at=long_ago + timedelta(seconds=n)).pk for n in range(7)]
    assert outbox_requeue_stale(digests.KIND, limit=3) == lost
    assert no_hand_offs == [(digests.KIND, pk) for pk in lost]
    assert outbox_requeue_stale(digests.KIND, limit=3) == []  # pushed to now: not again


def test_a_kind_whose_sweep_fails_does_not_stop_the_others(monkeypatch, no_hand_offs, caplog):
    from incidents import outbox

    sweep = outbox.outbox_requeue_stale

    def broken_for_subscribers(kind, **kwargs):
        if kind == subscribers.KIND:
            raise RuntimeError("statement timeout")
        return sweep(kind, **kwargs)

    lost = digest(next_attempt_at=timezone.now() - timedelta(minutes=5))
    monkeypatch.setattr(outbox, "outbox_requeue_stale", broken_for_subscribers)
    with caplog.at_level(logging.ERROR, logger="incidents.outbox"):
        handed = outbox_sweep()
    assert subscribers.KIND not in handed and handed[digests.KIND] == 1
    assert set(handed) == set(OUTBOX_KINDS) - {subscribers.KIND}
    assert no_hand_offs == [(digests.KIND, lost.pk)]
    assert f"the outbox sweep of {subscribers.KIND} failed" in caplog.text
    assert "statement timeout" in caplog.text


def test_the_sweep_re_hands_a_lost_page_as_promptly_as_operations_md_says():
    """docs/operations.md: a page whose hand-off Redis lost goes out again within 10-15 s. A
    lost row is re-handed by the first sweep after its grace period, so at worst grace + one
    interval after it was due. The sweep's message expires after the shortest grace (a queue
    backed up by more than that holds rows queued, not lost: they are not handed twice). It
    runs on the default workers' `pages` queue, so it never holds up the timers workers'
    deadlines."""
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-outbox"]
    graces = {kind: spec.policy.requeue_grace_seconds for kind, spec in OUTBOX_KINDS.items()}
    assert graces["page"] + entry["schedule"] <= 12
    assert max(graces.values()) + entry["schedule"] <= 17
    assert entry["options"]["expires"] == min(graces.values())
    assert entry["options"]["queue"] == "pages"  # not behind a storm's other deliveries
    assert queue_of(entry["task"]) == "pages", "never on the timers queue"


def queue_of(task: str, args=()) -> str:
    """The queue Celery's router (CELERY_TASK_ROUTES) sends `task` with `args` to."""
    from tensafe_ir.celery import app

    return app.amqp.router.route({}, task, args, {})["queue"].name


def test_each_hand_off_goes_to_its_kinds_queue_pages_their_own():
    """The default workers take `pages` in turn with `celery` (Procfile: -Q pages,celery), so a
    page never waits behind a storm of alert deliveries, webhooks and emails."""
    for task in ("incidents.tasks.outbox_deliver_task", "incidents.tasks.outbox_deliver_many_task"):
        assert queue_of(task, ("page", 1)) == "pages"
        for kind in set(OUTBOX_KINDS) - {"page"}:
            assert queue_of(task, (kind, 1)) == "celery", kind
    assert queue_of("incidents.tasks.sweep_timers_task") == "timers"
    assert queue_of("integrations.tasks.apply_inbound_task") == "celery"


@pytest.mark.django_db(transaction=True)
def test_digests_left_sending_by_the_old_code_become_due_again():
    """Migration pir 0002: a digest the old sender left `sending` (no lease, never picked up
    again) becomes pending and due; every other row keeps its status."""
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("pir", "0001_reviews_action_items"), ("pir", "0002_outbox_digest_rows")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    manager = old.get_model("incidents", "User").objects.create(username="em-old")
    rows = old.get_model("pir", "ActionDigestDelivery").objects
    today = timezone.now().date()
    for status in ("sending", "sent", "failed", "pending"):
        rows.create(
            manager=manager,
            severity="P1",
            period_start=today,
            period_end=today,
            idempotency_key=f"k-{status}",
            to_address="em@t.test",
            subject="s",
            body="b",
            status=status,
            created_at=timezone.now(),
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([after])
    new = executor.loader.project_state([after]).apps.get_model("pir", "ActionDigestDelivery")
    assert dict(new.objects.values_list("idempotency_key", "status")) == {
        "k-sending": "pending",
        "k-sent": "sent",
        "k-failed": "failed",
        "k-pending": "pending",
    }
    assert not new.objects.filter(next_attempt_at__gt=timezone.now()).exists()
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_sender_that_raises_is_a_failed_try_worth_another(monkeypatch, no_hand_offs, caplog):
    """E.g. its database connection dropped while it composed the message: nothing went out,
    and the row is not left `sending` until its lease runs out."""
    delivery = subscriber_delivery()

    def broken_compose(delivery):
        raise RuntimeError("connection lost while composing")

    monkeypatch.setattr("comms.subscribers._compose", broken_compose)
    assert outbox_deliver(subscribers.KIND, delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.lease_until is None and "connection lost" in delivery.last_error
    assert mail.outbox == [] and "the sender raised" in caplog.text


# --- rows handed over together (outbox_deliver_many) ----------------------------------------
def _sent_keys() -> list[str]:
    return [m.extra_headers["X-Idempotency-Key"] for m in mail.outbox]


def test_rows_handed_over_together_are_claimed_and_loaded_once_and_each_sent_once(no_hand_offs):
    from django.test.utils import CaptureQueriesContext

    rows = [digest() for _ in range(4)]
    done = digest(status="sent", attempts=1)
    table = ActionDigestDelivery._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        results = outbox_deliver_many(digests.KIND, [r.pk for r in rows] + [done.pk])
    assert results == {"sent": 4, "skipped": 1}
    sql = [q["sql"] for q in queries.captured_queries]
    claims = [s for s in sql if s.startswith(f'UPDATE "{table}"') and "'sending'" in s]
    loads = [s for s in sql if s.startswith("SELECT") and " IN (" in s]
    assert (len(claims), len(loads)) == (1, 1)  # one UPDATE … RETURNING, then the rows
    assert sorted(_sent_keys()) == sorted(r.idempotency_key for r in rows)
    assert set(ActionDigestDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_many_rows_are_handed_to_the_workers_in_batches(monkeypatch):
    from incidents import tasks
    from incidents.outbox import HAND_OFF_BATCH, outbox_enqueue

    one, many = [], []
    monkeypatch.setattr(tasks.outbox_deliver_task, "delay", lambda *args: one.append(args))
    monkeypatch.setattr(tasks.outbox_deliver_many_task, "delay", lambda *args: many.append(args))
    ids = list(range(1, 2 * HAND_OFF_BATCH + 2))
    outbox_enqueue("page", ids)
    assert many == [("page", ids[:HAND_OFF_BATCH]), ("page", ids[HAND_OFF_BATCH:-1])]
    assert one == [("page", ids[-1])]
    # An ordered kind's rows each wait their turn: one task each, sent side by side.
    one.clear()
    outbox_enqueue("outgoing-webhook", ids[:3])
    assert one == [("outgoing-webhook", n) for n in ids[:3]] and len(many) == 2
    with pytest.raises(ValueError, match="ordered"):
        outbox_deliver_many("outgoing-webhook", ids[:3])


def test_a_second_worker_handed_the_same_rows_sends_none_of_them_again(
    monkeypatch, time_machine, no_hand_offs
):
    """Worker A's batch is sending its first row when worker B is handed the same rows (the
    sweep re-handed them, or a message came twice): B finds them all claimed, also when both
    claims fall in the same microsecond and so carry the same lease."""
    time_machine.move_to(timezone.now(), tick=False)
    rows = [digest() for _ in range(3)]
    ids = [r.pk for r in rows]
    real_send = mail.EmailMessage.send
    seen = []

    def send(message, *args, **kwargs):
        if not seen:
            seen.append(outbox_deliver_many(digests.KIND, ids))  # worker B
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr("django.core.mail.EmailMessage.send", send)
    assert outbox_deliver_many(digests.KIND, ids) == {"sent": 3}
    assert seen == [{"skipped": 3}]
    assert sorted(_sent_keys()) == sorted(r.idempotency_key for r in rows)


def test_a_batch_that_spent_its_window_of_the_lease_releases_what_it_has_not_sent(
    monkeypatch, time_machine, no_hand_offs
):
    """The first send takes more than the batch's window of its lease (a slow receiver): the
    rest go back to pending with their attempt given back, and to the workers at once, so no
    send starts with less than 90 % of its lease left."""
    rows = [digest() for _ in range(3)]
    ids = [r.pk for r in rows]
    real_send = mail.EmailMessage.send

    def slow(message, *args, **kwargs):
        spent = digests.POLICY.lease_seconds * BATCH_SEND_WINDOW + 1
        time_machine.move_to(timezone.now() + timedelta(seconds=spent))
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr("django.core.mail.EmailMessage.send", slow)
    assert outbox_deliver_many(digests.KIND, ids) == {"sent": 1, "released": 2}
    assert no_hand_offs == [(digests.KIND, ids[1]), (digests.KIND, ids[2])]
    released = ActionDigestDelivery.objects.filter(pk__in=ids[1:])
    assert set(released.values_list("status", "attempts", "lease_until")) == {("pending", 0, None)}
    assert outbox_deliver_many(digests.KIND, ids) == {"skipped": 1, "sent": 1, "released": 1}
    assert outbox_deliver(digests.KIND, ids[2]) == "sent"
    assert sorted(_sent_keys()) == sorted(r.idempotency_key for r in rows)


def test_a_worker_killed_mid_batch_leaves_only_its_unsent_rows_to_the_sweep(
    monkeypatch, time_machine, no_hand_offs
):
    rows = [digest() for _ in range(3)]
    ids = [r.pk for r in rows]
    real_send = mail.EmailMessage.send

    def killed_at_the_second(message, *args, **kwargs):
        if len(mail.outbox) == 1:
            raise SystemExit("worker killed mid-send")
        return real_send(message, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr("django.core.mail.EmailMessage.send", killed_at_the_second)
        with pytest.raises(SystemExit):
            outbox_deliver_many(digests.KIND, ids)
    statuses = dict(ActionDigestDelivery.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["sent", "sending", "sending"]
    time_machine.move_to(timezone.now() + timedelta(seconds=digests.POLICY.lease_seconds + 1))
    assert sorted(outbox_requeue_stale(digests.KIND)) == ids[1:]
    assert outbox_deliver_many(digests.KIND, ids) == {"skipped": 1, "sent": 2}
    assert sorted(_sent_keys()) == sorted(r.idempotency_key for r in rows)
