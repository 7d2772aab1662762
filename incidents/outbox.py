"""The delivery outbox: every message the platform sends is a row written before the send,
then claimed under a lease, sent, and its outcome recorded (docs/architecture.md,
Conventions: "Rows before sends").

An app keeps only how it builds its rows and how it sends one. It declares a concrete model on
`OutboxRow` and registers its kind (in `AppConfig.ready()`, like deadline kinds):

    register_outbox_kind("status-subscriber", model=SubscriberDelivery,
                         sender=SubscriberEmailSender(), policy=RetryPolicy(...))

The core then owns the rest, the same for every kind:
- one claim (`outbox_deliver`): a conditional UPDATE pending→sending with a lease that exactly
  one worker wins, safe over a lost database connection (incidents.db);
- one task (`incidents.tasks.outbox_deliver_task(kind, pk)`) that runs it, and one for rows
  handed over together (`outbox_deliver_many`: a sweep's pages claimed and loaded in one
  query each, up to HAND_OFF_BATCH rows a task);
- one place that records outcomes (`_record`), guarded by the lease, so a worker whose lease
  ran out never overwrites the outcome of the one that took the row over;
- one beat sweep (`outbox_sweep`, `incidents.tasks.outbox_sweep_task`) that makes rows whose
  worker died due again and re-hands rows whose hand-off was lost (Redis restarted);
- an optional ordering key (`ordering_key`, columns of the row): a row is not claimed while an
  earlier row (lower id) with the same key is still outstanding, and each row done hands over
  the next one of its key, so a receiver gets them in the order they were written (outgoing
  webhooks: per subscription and incident).

What "at least once" means: a row is sent until its outcome is recorded. A worker killed
after the send and before the record leaves the row `sending`; once its lease has run out the
sweep hands it over again and the receiver sees the same idempotency key a second time. Every
kind's sender puts the key on the message, so the receiver can drop the repeat.

The core never imports the apps that register kinds (tests/test_layering.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from .db import (
    claim_row,
    claim_rows,
    lease_lost,
    locked_update,
    on_fresh_connection,
    on_fresh_connection_until,
)
from .notify import Outcome, backoff_seconds

log = logging.getLogger(__name__)

# Rows handed over together go to the workers in tasks of at most this many
# (`outbox_deliver_many`). A task per row cost a page ~7.5 ms of a worker's CPU, most of it the
# task itself, the claim and the row's load (bench/timers.py, docs/benchmarks.md); a task of
# many claims and loads them once. Small enough that both of a worker's processes get a share
# of a sweep's pages.
HAND_OFF_BATCH = 20
# The share of the lease a batch may spend sending; then it releases the rows not yet sent.
# Each send so starts with at least 90 % of the lease left, about what a row claimed alone
# had, so a slow send (an SMTP server taking its timeouts) does not outlast its lease.
BATCH_SEND_WINDOW = 0.1


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class OutboxRow(models.Model):
    """One message to send, written before the send. `idempotency_key` is unique (a re-run of
    whatever writes rows writes nothing new) and travels with the message, so a receiver can
    drop a repeat. `payload` holds what the sender needs beyond the kind's own columns.
    `lease_until` is the claim's token: set, to the microsecond, by the claim that owns the
    row, and checked by the record of its outcome. `response_code` is the receiver's answer
    to the last try (an HTTP status, an SMTP reply code), when it gave one."""

    Status = OutboxStatus

    idempotency_key = models.CharField(max_length=120, unique=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class RetryPolicy:
    """How a kind retries: `attempts` tries in all, waiting `backoff_seconds` (base, 2 x base,
    ... up to cap; never sooner than a receiver's Retry-After) between them. `retry_on` says
    which failed outcomes are worth another try (by default the transport's own verdict:
    timeouts, connection failures, 5xx and 429). A send that takes longer than `lease_seconds`
    is presumed dead; a pending row due for longer than `requeue_grace_seconds` is presumed
    lost in the broker."""

    attempts: int
    base_seconds: float
    cap_seconds: float
    lease_seconds: float = 60
    requeue_grace_seconds: float = 10
    retry_on: Callable[[Outcome], bool] = field(default=lambda outcome: outcome.retryable)

    def delay_after(self, attempts: int, outcome: Outcome) -> float:
        return backoff_seconds(
            attempts, outcome.retry_after, base=self.base_seconds, cap=self.cap_seconds
        )


@runtime_checkable
class Sender(Protocol):
    """How one kind sends a row. Only `send` is required; the other hooks are looked up with
    getattr and may be left out:

    - `cancelled(row) -> str | None`: a reason not to send any more (the row becomes
      `cancelled`), checked after the claim, before the send;
    - `failed(row, outcome)`: failure accounting, called in the record's transaction after
      every failed try;
    - `final_failure(row, outcome)`: what else a final failure leaves behind (a timeline
      event, a note), in the record's transaction. The core always logs it at WARNING;
    - `lock(row)`: called first in the record's transaction, before the row itself is locked,
      to lock what the hooks below change in the order the kind's other writers lock it in;
    - `sent(row)`: success accounting, in the record's transaction;
    - `held(row) -> bool`: whether a row due for another try waits in the kind's
      `held_status` instead of pending (in the record's transaction, after `failed`);
    - `settle(now)`: in the sweep's transaction, after rows whose worker died are pending again
      and before stale rows are picked: the kind's own housekeeping of rows the core does not
      claim (release, hold or expire held rows).
    """

    def send(self, row) -> Outcome: ...


# The Celery queues of the hand-offs (`outbox_route`): pages have their own.
DEFAULT_QUEUE = "celery"
PAGES_QUEUE = "pages"


@dataclass(frozen=True)
class OutboxKind:
    """A registered kind. `incident_path` leads from a row to the incident(s) it is about
    (`many_incidents` when it crosses a many-to-many), for the operators' list: its filter by
    incident, and its visibility rule (a row about an incident the reader may not see is not
    shown).

    `ordering_key` (columns of the row) orders the rows sharing its values: see
    `outbox_deliver`. `claim_where` adds conditions a row must meet to be claimed or re-handed
    (e.g. its subscription enabled). `held_status` is a status of the kind's own for rows that
    wait outside the outbox until the kind releases them: they count as outstanding for the
    ordering, and a retry goes there when the sender's `held(row)` says so."""

    kind: str
    model: type[OutboxRow]
    sender: Any
    policy: RetryPolicy
    select_related: tuple[str, ...] = ()
    incident_path: str | None = None
    many_incidents: bool = False
    ordering_key: tuple[str, ...] = ()
    claim_where: dict = field(default_factory=dict)
    held_status: str | None = None
    queue: str = DEFAULT_QUEUE

    def outstanding(self) -> tuple[str, ...]:
        """The statuses of a row that keeps the later ones of its ordering key waiting."""
        held = (self.held_status,) if self.held_status else ()
        return (OutboxStatus.PENDING, OutboxStatus.SENDING, *held)


OUTBOX_KINDS: dict[str, OutboxKind] = {}


def register_outbox_kind(
    kind: str,
    *,
    model: type[OutboxRow],
    sender: Sender,
    policy: RetryPolicy,
    select_related: tuple[str, ...] = (),
    incident_path: str | None = None,
    many_incidents: bool = False,
    ordering_key: tuple[str, ...] = (),
    claim_where: dict | None = None,
    held_status: str | None = None,
    queue: str = DEFAULT_QUEUE,
) -> None:
    """Called from an app's `AppConfig.ready()`. `queue`: the Celery queue its hand-offs go
    to (`outbox_route`)."""
    if not issubclass(model, OutboxRow):
        raise TypeError(f"{model.__name__} must be a concrete subclass of OutboxRow")
    if not callable(getattr(sender, "send", None)):
        raise TypeError(f"the sender of outbox kind {kind!r} has no send(row)")
    columns = {f.attname for f in model._meta.concrete_fields}
    if missing := [c for c in ordering_key if c not in columns]:
        raise TypeError(f"outbox kind {kind!r}: no column {', '.join(missing)} to order by")
    if held_status is not None and held_status not in {v for v, _ in model.Status.choices}:
        raise TypeError(f"outbox kind {kind!r}: {held_status!r} is not a status of its rows")
    OUTBOX_KINDS[kind] = OutboxKind(
        kind,
        model,
        sender,
        policy,
        tuple(select_related),
        incident_path,
        many_incidents,
        tuple(ordering_key),
        dict(claim_where or {}),
        held_status,
        queue,
    )


DELIVERY_TASKS = ("incidents.tasks.outbox_deliver_task", "incidents.tasks.outbox_deliver_many_task")


def outbox_route(name, args, kwargs, options, task=None, **kw):
    """Celery router (CELERY_TASK_ROUTES): a row's hand-off goes to its kind's queue. Pages
    have a queue of their own, `pages`, which the default workers take in turn with `celery`
    (kombu's Redis transport rotates between a worker's queues), so a page never waits behind
    a storm's alert deliveries, webhooks and emails. None: the next router decides."""
    if name in DELIVERY_TASKS and args and args[0] in OUTBOX_KINDS:
        return {"queue": OUTBOX_KINDS[args[0]].queue}
    return None


def outbox_kind(kind: str) -> OutboxKind:
    try:
        return OUTBOX_KINDS[kind]
    except KeyError:
        raise LookupError(f"no outbox kind {kind!r} is registered") from None


def outbox_statuses() -> list[str]:
    """Every status a row of a registered kind can have (a kind may add its own), in the
    order the kinds declare them."""
    found: dict[str, None] = {}
    for spec in OUTBOX_KINDS.values():
        found.update((value, None) for value, _label in spec.model.Status.choices)
    return list(found)


# --- hand-off -------------------------------------------------------------------------------
def outbox_rows_write(kind: str, rows: list) -> list[int]:
    """Write the rows of `kind` whose idempotency key is not taken yet (so a re-run writes
    nothing new), inside the caller's transaction, and hand them to the workers after commit.
    Returns the new rows' ids."""
    model = outbox_kind(kind).model
    keys = [row.idempotency_key for row in rows]
    taken = set(
        model.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    new = model.objects.bulk_create([row for row in rows if row.idempotency_key not in taken])
    ids = [row.pk for row in new]
    if ids:
        transaction.on_commit(lambda: outbox_enqueue(kind, ids))
    return ids


def outbox_enqueue(kind: str, row_ids: list[int]) -> None:
    """Hand rows to the workers (after commit): one row alone, or a row of a kind with an
    ordering key, as `outbox_deliver_task`; more in tasks of up to HAND_OFF_BATCH
    (`outbox_deliver_many_task`). With the broker down they stay pending and the sweep hands
    them over again once their grace period has passed."""
    from .tasks import outbox_deliver_many_task, outbox_deliver_task

    # Rows of an ordered kind each wait their turn: one task each, so the workers send rows of
    # different keys side by side (in one batch they would go one after the other).
    size = 1 if outbox_kind(kind).ordering_key else HAND_OFF_BATCH
    for start in range(0, len(row_ids), size):
        batch = list(row_ids[start : start + size])
        try:
            if len(batch) == 1:
                outbox_deliver_task.delay(kind, batch[0])
            else:
                outbox_deliver_many_task.delay(kind, batch)
        except Exception:
            log.warning("could not enqueue %s %s; the sweep will retry", kind, batch)
            return


def _schedule_retry(kind: str, row_id: int, at: datetime) -> None:
    from .tasks import outbox_deliver_task

    try:
        outbox_deliver_task.apply_async((kind, row_id), eta=at)
    except Exception:  # the sweep hands it over once it is due
        log.warning("could not schedule the retry of %s %s", kind, row_id, exc_info=True)


# --- claim, send, record ----------------------------------------------------------------------
def outbox_deliver(kind: str, row_id: int) -> str:
    """Send one row of `kind`. Returns its resulting status, "waiting" or "skipped".

    0. With an ordering key: a pending row waits ("waiting") while an earlier row of its key
       is outstanding (pending, sending or held); that one hands this one over when it is done.
    1. Claim it: a conditional UPDATE pending and due → sending, attempts+1, lease_until =
       now + the policy's lease (unique to the microsecond: this claim's token). Exactly one
       worker wins; a row sent, failed, cancelled, not yet due, being sent or not meeting the
       kind's `claim_where` is left alone. If
       the connection drops, `claim_row` finds out whether the UPDATE committed.
    2. Load the row, and check before sending that it is still ours: sending, under this
       lease, and the lease not run out (a worker that stalled between claim and send must
       not send a row the sweep may already have handed to another). Otherwise skip.
    3. Ask the sender whether the row is cancelled meanwhile (e.g. the subscriber left); if
       so, record that instead of sending.
    4. Send, outside any transaction (a sender that raises counts as a failed try).
    5. Record the outcome in one transaction that locks the row and returns early unless it is
       still `sending` under this lease (`lease_lost`): a late worker never overwrites. Sent;
       or pending again after a backoff when the policy retries it and attempts remain; or
       failed (logged at WARNING, plus the sender's `final_failure`); or held when the sender's
       `held(row)` says so.
    6. Schedule the retry; or, with an ordering key, hand over the next row of the key.
    Steps 0, 2, 5 and 6 run on a fresh connection if the old one dropped (incidents.db); step 5
    keeps trying until the lease ends, since a row left `sending` is sent again after it.
    """
    spec = outbox_kind(kind)
    if spec.ordering_key and on_fresh_connection(_waits_its_turn, spec, row_id):
        return "waiting"
    now = timezone.now()
    lease = now + timedelta(seconds=spec.policy.lease_seconds)
    claimed = claim_row(
        spec.model, row_id, where=_claimable(spec, now), changes=_claim_changes(lease)
    )
    if not claimed:
        return "skipped"
    row = on_fresh_connection(_claimed_rows(spec, [row_id]).first)
    if row is None:
        return "skipped"
    return _deliver_claimed(spec, row, lease)


def outbox_deliver_many(kind: str, row_ids: list[int]) -> dict[str, int]:
    """`outbox_deliver` for rows handed over together: how many ended in each status.

    The rows are claimed in one transaction under one lease (`claim_rows`) and loaded in one
    query, then each is sent and recorded on its own as in `outbox_deliver` (steps 2-6), so a
    worker killed mid-batch leaves at most one send unrecorded. Once the batch has spent
    BATCH_SEND_WINDOW of its lease, the rows not yet sent are released (pending again, their
    attempt given back) and handed over anew: no send starts with less than 90 % of the lease
    left, and no row waits out a lease behind slow receivers. Not for kinds with an ordering key,
    whose rows are handed over one by one (`outbox_enqueue`)."""
    spec = outbox_kind(kind)
    if spec.ordering_key:
        raise ValueError(f"outbox kind {kind!r} is ordered: its rows go one by one")
    results: Counter[str] = Counter()
    now = timezone.now()
    lease = now + timedelta(seconds=spec.policy.lease_seconds)
    claimed = claim_rows(
        spec.model, row_ids, where=_claimable(spec, now), changes=_claim_changes(lease)
    )
    rows = on_fresh_connection(lambda: list(_claimed_rows(spec, claimed).order_by("pk")))
    if len(rows) < len(row_ids):
        results["skipped"] = len(row_ids) - len(rows)
    enough = timedelta(seconds=spec.policy.lease_seconds * (1 - BATCH_SEND_WINDOW))
    for n, row in enumerate(rows):
        if lease - timezone.now() < enough:
            released = on_fresh_connection(_release, spec, [r.pk for r in rows[n:]], lease)
            outbox_enqueue(kind, released)
            results["released"] = len(released)
            break
        results[_deliver_claimed(spec, row, lease)] += 1
    return dict(results)


def _claimable(spec: OutboxKind, now: datetime) -> dict:
    return {"status": OutboxStatus.PENDING, "next_attempt_at__lte": now, **spec.claim_where}


def _claim_changes(lease: datetime) -> dict:
    """A claim: sending, one more attempt, and the lease (unique to the microsecond: the
    claim's token)."""
    return {"status": OutboxStatus.SENDING, "attempts": F("attempts") + 1, "lease_until": lease}


def _claimed_rows(spec: OutboxKind, row_ids) -> models.QuerySet:
    return spec.model.objects.select_related(*spec.select_related).filter(pk__in=row_ids)


def _deliver_claimed(spec: OutboxKind, row: OutboxRow, lease: datetime) -> str:
    """Steps 2-6 of `outbox_deliver` for a row this worker claimed under `lease`."""
    if not _still_ours(row, lease):
        return "skipped"
    reason = getattr(spec.sender, "cancelled", lambda row: None)(row)
    if reason:
        status = on_fresh_connection_until(lease, _record_cancelled, spec, row, lease, reason)
    else:
        outcome = _send(spec, row)
        status = on_fresh_connection_until(lease, _record, spec, row, outcome, lease)
    if status == OutboxStatus.PENDING:
        _schedule_retry(spec.kind, row.pk, row.next_attempt_at)
    elif spec.ordering_key and status != OutboxStatus.SENDING:
        on_fresh_connection(_hand_next, spec, row)
    return status


def _release(spec: OutboxKind, row_ids: list[int], lease: datetime) -> list[int]:
    """Claimed rows not sent, pending again at once with their attempt given back; only those
    still under this lease (returns their ids)."""
    return locked_update(
        spec.model.objects.filter(pk__in=row_ids, status=OutboxStatus.SENDING, lease_until=lease),
        {
            "status": OutboxStatus.PENDING,
            "attempts": F("attempts") - 1,
            "lease_until": None,
            "next_attempt_at": timezone.now(),
        },
    )


def _same_key(spec: OutboxKind, row) -> models.QuerySet:
    """The rows of `row`'s ordering key (`row` a model instance or a dict of its columns)."""
    get = row.get if isinstance(row, dict) else lambda column: getattr(row, column)
    return spec.model.objects.filter(**{column: get(column) for column in spec.ordering_key})


def _waits_its_turn(spec: OutboxKind, row_id: int) -> bool:
    """Step 0 of `outbox_deliver`: a pending row with an earlier outstanding row of its key."""
    row = spec.model.objects.filter(pk=row_id).values("status", *spec.ordering_key).first()
    if row is None or row["status"] != OutboxStatus.PENDING:
        return False
    return _same_key(spec, row).filter(pk__lt=row_id, status__in=spec.outstanding()).exists()


def _hand_next(spec: OutboxKind, row: OutboxRow) -> None:
    """Step 6 of `outbox_deliver`: the next pending row of the key goes to a worker."""
    following = (
        _same_key(spec, row)
        .filter(pk__gt=row.pk, status=OutboxStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        outbox_enqueue(spec.kind, [following])


def _send(spec: OutboxKind, row: OutboxRow) -> Outcome:
    """The sender's try. Senders report a failed send as an Outcome; one that raises (its
    database connection dropped while it composed the message, a bug) did not get the message
    out and is recorded as a failed try worth another."""
    try:
        return spec.sender.send(row)
    except Exception as exc:
        log.warning("outbox %s %s: the sender raised", spec.kind, row.pk, exc_info=True)
        return Outcome(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:500])


def _still_ours(row: OutboxRow, lease: datetime) -> bool:
    return (
        row.status == OutboxStatus.SENDING and row.lease_until == lease and timezone.now() < lease
    )


def _record(spec: OutboxKind, row: OutboxRow, outcome: Outcome, lease: datetime) -> str:
    """The one place an outcome is written (step 5 of `outbox_deliver`)."""
    sender = spec.sender
    with transaction.atomic():
        if (lock := getattr(sender, "lock", None)) is not None:
            lock(row)
        if (status := lease_lost(spec.model, row.pk, lease)) is not None:
            return status
        now = timezone.now()
        row.lease_until, row.last_error = None, outcome.error[:500]
        row.response_code = outcome.code
        if outcome.ok:
            row.status, row.sent_at = OutboxStatus.SENT, now
            if (sent := getattr(sender, "sent", None)) is not None:
                sent(row)
        else:
            if (failed := getattr(sender, "failed", None)) is not None:
                failed(row, outcome)
            if spec.policy.retry_on(outcome) and row.attempts < spec.policy.attempts:
                held = getattr(sender, "held", None)
                row.status = (
                    spec.held_status
                    if spec.held_status and held is not None and held(row)
                    else OutboxStatus.PENDING
                )
                row.next_attempt_at = now + timedelta(
                    seconds=spec.policy.delay_after(row.attempts, outcome)
                )
            else:
                row.status = OutboxStatus.FAILED
                _final_failure(spec, row, outcome)
        row.save(
            update_fields=[
                "status",
                "sent_at",
                "next_attempt_at",
                "lease_until",
                "response_code",
                "last_error",
            ]
        )
    return row.status


def _final_failure(spec: OutboxKind, row: OutboxRow, outcome: Outcome) -> None:
    log.warning(
        "outbox %s %s (%s) failed after %s attempt(s): %s",
        spec.kind,
        row.pk,
        row.idempotency_key,
        row.attempts,
        outcome.error or "no error given",
    )
    if (hook := getattr(spec.sender, "final_failure", None)) is not None:
        hook(row, outcome)


def _record_cancelled(spec: OutboxKind, row: OutboxRow, lease: datetime, reason: str) -> str:
    with transaction.atomic():
        if (status := lease_lost(spec.model, row.pk, lease)) is not None:
            return status
        row.status, row.lease_until, row.last_error = OutboxStatus.CANCELLED, None, reason[:500]
        row.save(update_fields=["status", "lease_until", "last_error"])
    return row.status


# --- the sweep --------------------------------------------------------------------------------
# Lots of `limit` stale rows one sweep hands over again: 10,000 rows of a kind at most by default.
REQUEUE_ROUNDS = 20


def outbox_requeue_stale(kind: str, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Rows of `kind` a worker should have handled by now, handed over again:

    1. Rows `sending` past their lease (the worker died mid-send), or `sending` with no lease
       at all (left by code from before the outbox), become pending again, due at once.
    2. The sender's `settle(now)`, if it has one (the kind's held rows).
    3. Pending rows due for longer than the grace period (their hand-off was lost) and meeting
       the kind's `claim_where` are taken, oldest first, and pushed to `now`, so each is
       re-handed once per grace period rather than on every sweep; locked while taken, and
       rows another sweep holds are skipped, so two sweeps at once never hand the same row.
       `limit` rows at a time, each lot handed over before the next is taken, until none is
       left (at most REQUEUE_ROUNDS lots): after a broker restart every lost hand-off goes out
       again in the first sweep past its grace period, not `limit` of them per sweep.
    Each step is one statement (or, in `settle`, several) that is right to repeat, so the
    sweep holds no transaction open between them, and a connection lost at any point means
    running it again (`outbox_sweep`). The hand-off follows step 3. Returns the ids handed
    over."""
    spec = outbox_kind(kind)
    model = spec.model
    now = now or timezone.now()
    model.objects.filter(_sending_past_lease(now)).update(
        status=OutboxStatus.PENDING, lease_until=None, next_attempt_at=_grace_start(spec, now)
    )
    if (settle := getattr(spec.sender, "settle", None)) is not None:
        settle(now)
    handed: list[int] = []
    for _ in range(REQUEUE_ROUNDS):
        stale = locked_update(
            model.objects.filter(_hand_off_lost(spec, now)).order_by("next_attempt_at", "pk"),
            {"next_attempt_at": now},
            skip_locked=True,
            limit=limit,
        )
        outbox_enqueue(kind, stale)
        handed += stale
        if len(stale) < limit:
            break
    return handed


def outbox_stale_count(kind: str, now: datetime) -> int:
    """The rows of `kind` the sweep exists for at `now`: sending past their lease (their worker
    died) or pending past the grace period (their hand-off was lost). For /metrics: above 0
    for long means the sweep or the broker is failing."""
    spec = outbox_kind(kind)
    return spec.model.objects.filter(_sending_past_lease(now) | _hand_off_lost(spec, now)).count()


def _grace_start(spec: OutboxKind, now: datetime) -> datetime:
    return now - timedelta(seconds=spec.policy.requeue_grace_seconds)


def _sending_past_lease(now: datetime) -> models.Q:
    """`sending` with the lease run out, or with none (left by code from before the outbox)."""
    return models.Q(status=OutboxStatus.SENDING) & (
        models.Q(lease_until__lt=now) | models.Q(lease_until__isnull=True)
    )


def _hand_off_lost(spec: OutboxKind, now: datetime) -> models.Q:
    """Pending, due for longer than the grace period, and claimable (`claim_where`)."""
    grace = _grace_start(spec, now)
    return models.Q(status=OutboxStatus.PENDING, next_attempt_at__lte=grace, **spec.claim_where)


def outbox_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Every registered kind's stale rows handed over again: {kind: rows handed over}. A kind
    whose sweep fails (its connection lost on every try) is logged and left to the next sweep;
    the kinds after it are still swept."""
    handed: dict[str, int] = {}
    for kind in sorted(OUTBOX_KINDS):
        try:
            handed[kind] = len(on_fresh_connection(outbox_requeue_stale, kind, now=now))
        except Exception:
            log.exception("the outbox sweep of %s failed; the next sweep tries again", kind)
    return handed
