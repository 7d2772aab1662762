"""The timer engine: deadlines planned from the policy, fired by the sweeper exactly once.

Lock order everywhere is incident row, then its deadline rows. Services that change an
incident hold its row lock and re-plan in the same transaction; the sweeper never waits for a
lock (SKIP LOCKED on both), so the two cannot deadlock, and a deadline whose incident is busy
is simply fired on the next sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from ..escalation import (
    TARGET_LABELS,
    Recipients,
    deadline_still_applies,
    plan_deadlines,
    without_role_holders,
)
from ..hooks import DEADLINE_KINDS, Fired
from ..models import Deadline, Incident, TimelineEvent
from ..outbox import outbox_enqueue
from ..reactions import reactions_run
from ..selectors import (
    active_roles_prefetch,
    incident_active_roles,
    policy_for,
    policy_read_once,
    policy_rules_enabled,
)
from ..states import TimelineKind
from .paging import KIND as PAGE
from .paging import PageRequest, pages_build_many

log = logging.getLogger(__name__)
PENDING, FIRED, CANCELLED, SKIPPED = (
    Deadline.Status.PENDING,
    Deadline.Status.FIRED,
    Deadline.Status.CANCELLED,
    Deadline.Status.SKIPPED,
)


def deadlines_replan(incident: Incident, *, now: datetime | None = None) -> None:
    """Make the incident's pending deadlines match the policy and its current state. Call with
    the incident row locked, in the transaction that changed it (declare, acknowledge,
    transition, severity change). Fired deadlines are never touched: each fires at most once."""
    with policy_read_once():
        _replan(incident, now or timezone.now())


def _replan(incident: Incident, now: datetime) -> None:
    policy = policy_for(incident.severity)
    plan = plan_deadlines(incident, policy_rules_enabled(), policy, now)
    for registered in DEADLINE_KINDS.values():
        for key, planned in registered.planner(incident, now).items():
            if not key.startswith(f"{registered.kind}:") or planned.kind != registered.kind:
                raise ValueError(
                    f"deadline {key!r} of kind {planned.kind!r} is not {registered.kind}'s"
                )
            plan[key] = planned
    existing = {d.key: d for d in Deadline.objects.filter(incident=incident)}
    told = [d for d in existing.values() if d.kind == "notify" and d.status == FIRED]
    new, moved = [], []
    for key, planned in plan.items():
        if planned.kind == "notify" and any(
            d.data.get("severity", "P4") <= planned.data["severity"] for d in told
        ):
            continue  # the audiences of this severity or a more severe one were already told
        current = existing.get(key)
        if current is None:
            new.append(
                Deadline(
                    incident=incident,
                    kind=planned.kind,
                    key=key,
                    due_at=planned.due_at,
                    data=planned.data,
                    created_at=now,
                )
            )
            continue
        # A cancelled deadline comes back when its rule applies again; a pending one follows
        # the plan (a pending notification keeps its time: it is due already), keeping the
        # levels it catches up for.
        movable = current.status == CANCELLED or (
            current.status == PENDING and current.kind != "notify"
        )
        data = planned.data
        if CATCH_UP in current.data:
            data = {**data, CATCH_UP: current.data[CATCH_UP]}
        wanted = (PENDING, planned.due_at, data)
        if movable and (current.status, current.due_at, current.data) != wanted:
            current.status, current.due_at, current.data = wanted
            moved.append(current)
    _catch_up(new + moved, now)
    for current in moved:
        current.save(update_fields=["status", "due_at", "data", "updated_at"])
    Deadline.objects.bulk_create(new)
    stale = [d.pk for key, d in existing.items() if d.status == PENDING and key not in plan]
    if stale:
        Deadline.objects.filter(pk__in=stale, status=PENDING).update(
            status=CANCELLED, updated_at=now
        )


CATCH_UP = "catch_up"
LADDER = ("unacknowledged", "open")


def _chain(deadline: Deadline) -> str | None:
    """The chain a deadline is a step of, whose later steps stand for the earlier ones: 5.1's
    ladder (its "not acknowledged in" and "open longer than" rules; the security rule and the
    resolution target (5.2) are not rungs), or the `chain` a deadline kind names in its data
    (a reminder and the escalation that follows it)."""
    if deadline.kind == "escalation":
        return "escalation" if deadline.data.get("trigger") in LADDER else None
    return deadline.data.get("chain")


def _catch_up(written: list[Deadline], now: datetime) -> None:
    """Steps of a chain already past when they are planned (an incident declared long after
    its detection, a severity raised late, a detection time moved back) do not all fire at
    once: the last step past fires as one catch-up naming the steps before it, which are kept
    as skipped (nobody is paged for them; they never fire)."""
    chains: dict[str, list[Deadline]] = {}
    for deadline in written:
        if deadline.status == PENDING and deadline.due_at < now and (name := _chain(deadline)):
            chains.setdefault(name, []).append(deadline)
    for past in chains.values():
        if len(past) < 2:
            continue
        past.sort(key=lambda d: (d.due_at, d.data.get("after_minutes") or 0, d.key))
        top, below = past[-1], past[:-1]
        top.data = {**top.data, CATCH_UP: [_step(d) for d in below]}
        for deadline in below:
            deadline.status = SKIPPED
            deadline.data = {**deadline.data, "caught_up_by": top.key}


def _step(deadline: Deadline) -> dict:
    """A skipped step as its catch-up names it."""
    target = deadline.data.get("target")
    label = TARGET_LABELS.get(target, target) if target else deadline.data.get("label", "")
    return {"key": deadline.key, "label": label}


def catch_up_note(data: dict) -> str:
    """What a catch-up says about the steps it stands for ('' for any other deadline)."""
    if not (steps := data.get(CATCH_UP)):
        return ""
    labels = ", ".join(step["label"] for step in steps)
    return f" (catch-up: {labels} already past when planned, not sent)"


def _lock_due(now: datetime, limit: int) -> tuple[list[Deadline], dict[int, Incident]]:
    """1. Lock up to `limit` due deadlines, skipping rows another sweeper holds.
    2. Lock their incidents, skipping incidents a service holds; their deadlines wait.
    On SQLite the whole transaction holds the database write lock instead."""
    skip = connection.features.has_select_for_update_skip_locked
    due_qs = Deadline.objects.filter(status=PENDING, due_at__lte=now, created_at__lte=now)
    due_qs = due_qs.order_by("due_at", "id")
    if skip:
        due_qs = due_qs.select_for_update(skip_locked=True, of=("self",))
    due = list(due_qs[:limit])
    incident_qs = Incident.objects.filter(pk__in={d.incident_id for d in due}).prefetch_related(
        "services__team", active_roles_prefetch()
    )
    if skip:
        incident_qs = incident_qs.select_for_update(skip_locked=True, of=("self",))
    incidents = {i.pk: i for i in incident_qs}
    return [d for d in due if d.incident_id in incidents], incidents


def deadlines_fire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Fire every deadline due by `now` (up to `limit`), each exactly once.

    1. Lock due deadlines and their incidents (see _lock_due).
    2. For each: if it no longer applies, cancel it; else mark it fired with its lateness,
       resolve its targets to people, write the page rows and the timeline event.
    3. Commit: all of it lands or none (a killed worker leaves the deadlines pending).
    4. After commit, hand the pages to the workers; a lost hand-off is re-sent by the sweeper.
    `now`, when given, is also the time everything fires at (tests pass their frozen clock;
    demo_seed replays its history with it); else each step reads the clock.
    Returns how many deadlines fired."""
    fired_pages: list[int] = []
    count = 0
    given = now

    def clock() -> datetime:
        return given or timezone.now()

    with transaction.atomic():
        now = clock()
        due, incidents = _lock_due(now, limit)
        if not due:
            return 0
        recipients = Recipients(now)
        cancelled, ready = [], []  # ready: (deadline, incident, Fired, or a prepared escalation)
        for deadline in due:
            incident = incidents[deadline.incident_id]
            registered = DEADLINE_KINDS.get(deadline.kind)
            if registered is not None:
                prepared = registered.firer(deadline, incident, recipients, clock())
            else:
                prepared = _prepare(deadline, incident, recipients)
            if prepared is None:
                cancelled.append(deadline.pk)
                continue
            ready.append((deadline, incident, prepared))
        at = clock()
        escalations = [(d, i, p) for d, i, p in ready if not isinstance(p, Fired)]
        built = pages_build_many(
            [PageRequest(i, d, d.key, p.reason, p.people, at) for d, i, p in escalations]
        )
        made = {d.pk: _fired(d, p, *b) for (d, _, p), b in zip(escalations, built, strict=True)}
        # Stamped once the batch's rows are built, just before they are written: lateness
        # counts everything up to the writes (the commit follows at once).
        fired_at = clock()
        events = []
        for deadline, incident, prepared in ready:
            fired = made.get(deadline.pk, prepared)
            deadline.status, deadline.fired_at = FIRED, fired_at
            # Late from when it could first fire: a deadline written already overdue (an
            # incident detected long before it was declared, a severity raised after the
            # rule's time) is late by the sweeper's delay, not by its age.
            could_fire = max(deadline.due_at, deadline.created_at)
            deadline.lateness_ms = int((fired_at - could_fire).total_seconds() * 1000)
            fired.data.update({"deadline": deadline.pk, "lateness_ms": deadline.lateness_ms})
            if note := catch_up_note(deadline.data):
                fired.data[CATCH_UP] = deadline.data[CATCH_UP]
            fired_pages += fired.page_ids
            events.append(
                TimelineEvent(
                    incident=incident,
                    kind=fired.timeline_kind,
                    occurred_at=fired_at,
                    recorded_at=fired_at,
                    # An escalation's text names its catch-up already (`_fired`).
                    text=fired.text if deadline.pk in made else fired.text + note,
                    data=fired.data,
                )
            )
            count += 1
        Deadline.objects.bulk_update(
            [d for d in due if d.status == FIRED], ["status", "fired_at", "lateness_ms"]
        )
        if cancelled:
            Deadline.objects.filter(pk__in=cancelled).update(status=CANCELLED, updated_at=now)
        for event in TimelineEvent.objects.bulk_create(events):
            reactions_run(event.incident, event)
        transaction.on_commit(lambda: outbox_enqueue(PAGE, fired_pages))
    return count


@dataclass
class _Prepared:
    reason: str
    targets: list[str]
    people: list
    notes: list[str]


def _prepare(deadline: Deadline, incident: Incident, recipients: Recipients):
    """Who a due escalation or notice pages; None when it no longer applies (it is cancelled)."""
    if not deadline_still_applies(incident, deadline.data, deadline.kind):
        return None
    if deadline.kind == "notify":
        targets = deadline.data["audiences"]
        reason = f"{incident.severity} declared"
    else:
        targets = [deadline.data["target"]]
        reason = deadline.data["reason"]
    people, notes = [], []
    for target in targets:
        found, note = recipients.resolve(target, incident)
        if note:
            notes.append(note)
        if deadline.kind == "escalation":
            found, skipped = without_role_holders(incident, found, incident_active_roles(incident))
            notes += skipped
        people += [(target, person) for person in found]
    return _Prepared(reason, targets, people, notes)


def _fired(deadline: Deadline, prepared: _Prepared, page_ids: list[int], summary: str) -> Fired:
    labels = ", ".join(TARGET_LABELS.get(t, t) for t in prepared.targets)
    if deadline.kind == "notify":
        text = f"Notified {labels} ({prepared.reason})"
    else:
        text = f"Escalated to {labels}: {prepared.reason}"
    text += catch_up_note(deadline.data)
    text += f" — paged {summary}" if summary else " — nobody paged"
    if prepared.notes:
        text += f" ({'; '.join(prepared.notes)})"
    data = {**deadline.data, "pages": page_ids, "notes": prepared.notes}
    kind = TimelineKind.NOTIFIED if deadline.kind == "notify" else TimelineKind.ESCALATED
    return Fired(kind, text, data, page_ids)
