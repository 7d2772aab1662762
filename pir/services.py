"""Every write to reviews and action items (docs/architecture.md, Conventions: "Writes are
services"): one transaction each, which locks the incident (then the review), checks permission
and the procedures' rules, changes, and writes the incident timeline event in the same
transaction. The API, admin, the reaction to a resolution and the tasks all call these."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from incidents.errors import RuleViolation, StaleWrite, TransitionRefused
from incidents.models import Incident, TimelineEvent
from incidents.permissions import require_writer
from incidents.selectors import incident_get_for_user, incident_ic_id, policy_for
from incidents.services.timeline import timeline_record
from incidents.services.timers import deadlines_replan
from incidents.states import Status, TimelineKind

from .models import (
    ActionItem,
    ActionStatus,
    PirStatus,
    PirTimelineEntry,
    PostIncidentReview,
)
from .permissions import (
    require_may_change_action_item,
    require_may_create_review,
    require_may_manage_action_items,
    require_may_publish_review,
)
from .sections import pir_missing_sections
from .selectors import action_item_get_for_user, pir_entry_get, pir_get_for_user

# Incident events a review's timeline starts without: ticks of checklist items are bookkeeping
# (the events they tick are on the timeline themselves), and the review's own events.
TIMELINE_COPY_SKIPS = frozenset(
    {
        TimelineKind.CHECKLIST_TICKED,
        TimelineKind.CHECKLIST_UNTICKED,
        TimelineKind.PIR_CREATED,
        TimelineKind.PIR_PUBLISHED,
        TimelineKind.PIR_REMINDER,
    }
)
# Fields of the document that `pir_update` may change.
EDITABLE_FIELDS = frozenset(
    {
        "author",
        "review_date",
        "summary",
        "customers_affected",
        "requests_failed",
        "revenue_impact",
        "sla_impact_minutes",
        "what_happened",
        "five_whys",
        "contributing_factors",
        "went_well",
        "could_improve",
        "lessons_learned",
        "appendix_links",
    }
)


# --- locking ----------------------------------------------------------------------------------
def _lock(actor, pir_id) -> tuple[Incident, PostIncidentReview]:
    """1. Find the review through the incidents `actor` may see (404 otherwise).
    2. Lock its incident (the lock order everywhere: incident, then what hangs off it).
    3. Lock the review row and return both."""
    pir = pir_get_for_user(actor, pir_id)
    incident = incident_get_for_user(actor, pir.incident_id, for_update=True)
    pir = PostIncidentReview.objects.select_for_update(of=("self",)).get(pk=pir.pk)
    pir.incident = incident
    return incident, pir


def _require_editable(pir: PostIncidentReview) -> None:
    if pir.status == PirStatus.PUBLISHED:
        raise TransitionRefused(
            f"{pir.reference} is published and read-only; its action items stay editable.",
            allowed=[],
        )


# --- creating ---------------------------------------------------------------------------------
def _timeline_copy(pir: PostIncidentReview) -> int:
    """Copy the incident's timeline events not copied before (on creation: all of them; after a
    reopen and a second resolution: the newer ones). Rows keep their source event's id."""
    last = (
        pir.entries.filter(source_event__isnull=False)
        .order_by("-source_event_id")
        .values_list("source_event_id", flat=True)
        .first()
    )
    events = TimelineEvent.objects.filter(incident_id=pir.incident_id).exclude(
        kind__in=TIMELINE_COPY_SKIPS
    )
    if last is not None:
        events = events.filter(pk__gt=last)
    rows = [
        PirTimelineEntry(
            pir=pir, source_event_id=e.pk, occurred_at=e.occurred_at, text=e.text, kind=e.kind
        )
        for e in events.order_by("occurred_at", "id")
    ]
    PirTimelineEntry.objects.bulk_create(rows)
    return len(rows)


def _create(incident: Incident, *, actor, author, required: bool, now: datetime):
    policy = policy_for(incident.severity)
    pir = PostIncidentReview.objects.create(
        incident=incident,
        required=required,
        due_at=incident.resolved_at + timedelta(hours=policy.pir_due_hours),
        author=author,
        created_at=now,
        created_by=actor,
    )
    copied = _timeline_copy(pir)
    timeline_record(
        incident,
        TimelineKind.PIR_CREATED,
        f"Post-incident review {pir.reference} created "
        f"({'required' if required else 'optional'} for {incident.severity}); "
        f"due {pir.due_at:%Y-%m-%d %H:%M} UTC",
        actor=actor,
        occurred_at=now,
        data={"pir": pir.pk, "due_at": pir.due_at.isoformat(), "timeline_rows": copied},
    )
    deadlines_replan(incident, now=now)  # plans the review's reminders (pir.deadlines)
    return pir


def pir_on_incident_resolved(incident: Incident, event: TimelineEvent) -> PostIncidentReview | None:
    """The incident just resolved (called inside the resolving transaction, incident locked).
    Where the policy requires a review (8.1) create it, due `pir_due_hours` after resolution,
    authored by the IC. A review that exists already (the incident was reopened and resolved
    again) is kept: it gets the new timeline events, and an unpublished one is due counted
    from the final resolution."""
    existing = PostIncidentReview.objects.select_for_update().filter(incident=incident).first()
    policy = policy_for(incident.severity)
    if existing is not None:
        _timeline_copy(existing)
        if existing.status != PirStatus.PUBLISHED and policy.pir_due_hours:
            existing.due_at = incident.resolved_at + timedelta(hours=policy.pir_due_hours)
            existing.save(update_fields=["due_at", "updated_at"])
        deadlines_replan(incident, now=event.occurred_at)
        return existing
    if policy.pir_required != "required":
        return None
    ic_id = incident_ic_id(incident)
    author = event.actor if event.actor_id == ic_id or ic_id is None else None
    if author is None and ic_id is not None:
        from incidents.models import User

        author = User.objects.get(pk=ic_id)
    return _create(incident, actor=None, author=author, required=True, now=event.occurred_at)


def pir_create(*, actor, incident_id) -> PostIncidentReview:
    """Create a review by hand: the optional P3 review (8.1 "Optional"), or a required one the
    incident somehow lacks. The incident's IC or an SRE lead may; none for severities whose
    policy says "No" (P4)."""
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        require_writer(actor)
        policy = policy_for(incident.severity)
        if policy.pir_required == "none":
            raise RuleViolation(
                f"{incident.severity} incidents have no post-incident review "
                f"(procedures 8.1: {incident.severity} — PIR Required: No).",
                rule=f"8.1 PIR Required for {incident.severity}: No",
                field="incident",
            )
        if incident.status != Status.RESOLVED:
            raise RuleViolation(
                f"A post-incident review follows resolution; this incident is {incident.status}.",
                rule="8.1 a PIR is held after the incident is resolved",
                field="incident",
            )
        existing = PostIncidentReview.objects.filter(incident=incident).first()
        if existing is not None:
            raise RuleViolation(
                f"{incident.reference} already has {existing.reference}.",
                rule="one post-incident review per incident",
                field="incident",
            )
        require_may_create_review(actor, incident)
        return _create(
            incident,
            actor=actor,
            author=actor,
            required=policy.pir_required == "required",
            now=timezone.now(),
        )


# --- editing the document -----------------------------------------------------------------------
def pir_update(*, actor, pir_id, **fields) -> PostIncidentReview:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        _incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        _require_editable(pir)
        for name, value in fields.items():
            setattr(pir, name, value)
        pir.save(update_fields=[*fields, "updated_at"])
    return pir


def pir_transition(*, actor, pir_id, to: str, at: datetime | None = None) -> PostIncidentReview:
    """Move a review along draft -> in review -> published (or back to draft from review).

    1. Lock the incident and the review (see _lock).
    2. Find the transition to `to`; none: 409 with what is allowed.
    3. Publishing: the author, the IC or an SRE lead only, and every required section (8.2)
       filled, else 409 naming the empty ones.
    4. Run it, save, write the timeline event; re-plan the reminders (none once published).
    """
    with transaction.atomic():
        incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        at = at or timezone.now()
        available = {
            str(t.target): t.name
            for t in pir.get_all_status_transitions()
            if t.source == pir.status
        }
        name = available.get(to)
        if name is None:
            raise TransitionRefused(
                f"{pir.reference} is {pir.status}; it cannot move to {to}. "
                f"Allowed now: {', '.join(available) or 'nothing'}.",
                allowed=list(available),
            )
        if name == "publish":
            require_may_publish_review(actor, incident, pir)
            missing = pir_missing_sections(pir)
            if missing:
                raise TransitionRefused(
                    f"Cannot publish {pir.reference}: required sections are empty: "
                    + ", ".join(missing)
                    + ".",
                    allowed=[t for t in available if t != to],
                    missing=missing,
                )
            pir.publish(at=at, by=actor)
        else:
            getattr(pir, name)(at=at)
        pir.save(
            update_fields=["status", "submitted_at", "published_at", "published_by", "updated_at"]
        )
        if name == "publish":
            kind, text = (
                TimelineKind.PIR_PUBLISHED,
                f"Post-incident review {pir.reference} published",
            )
        elif name == "submit":
            kind, text = TimelineKind.NOTE, f"Post-incident review {pir.reference} sent for review"
        else:
            kind, text = TimelineKind.NOTE, f"Post-incident review {pir.reference} back to draft"
        timeline_record(
            incident,
            kind,
            text,
            actor=actor,
            occurred_at=at,
            data={"pir": pir.pk, "pir_transition": name, "pir_status": pir.status},
        )
        deadlines_replan(incident, now=at)
    return pir


# --- the review's timeline rows ---------------------------------------------------------------
def pir_entry_add(*, actor, pir_id, occurred_at: datetime, text: str) -> PirTimelineEntry:
    with transaction.atomic():
        _incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        _require_editable(pir)
        return PirTimelineEntry.objects.create(
            pir=pir, occurred_at=occurred_at, text=text, edited=True
        )


def pir_entry_update(*, actor, pir_id, entry_id, **fields) -> PirTimelineEntry:
    """Correct a row (its text or time); a copied row keeps its source event's id."""
    with transaction.atomic():
        _incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        _require_editable(pir)
        entry = pir_entry_get(pir, entry_id)
        for name in ("occurred_at", "text"):
            if name in fields:
                setattr(entry, name, fields[name])
        entry.edited = True
        entry.save(update_fields=["occurred_at", "text", "edited"])
        return entry


def pir_entry_delete(*, actor, pir_id, entry_id) -> None:
    with transaction.atomic():
        _incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        _require_editable(pir)
        pir_entry_get(pir, entry_id).delete()


# --- action items (8.4) -------------------------------------------------------------------------
def _apply_status(item: ActionItem, status: str, at: datetime) -> None:
    """completed_at records when it was done; closed_at when it left the open statuses."""
    item.status = status
    if status == ActionStatus.DONE:
        item.completed_at = item.completed_at or at
    else:
        item.completed_at = None
    if status in (ActionStatus.DONE, ActionStatus.WONT_DO):
        item.closed_at = item.closed_at or at
    else:
        item.closed_at = None


def _require_owner_and_due_date(item: ActionItem) -> None:
    """Every action item has an owner and a due date (8.2's Action Items table; 8.3 "Assign
    owners"). Checked on every write, whatever door it came through; the error names the
    field (the first missing, and the detail every one)."""
    missing = item.missing_fields
    if not missing:
        return
    names = {"owner": "an owner", "due_date": "a due date"}
    raise RuleViolation(
        f"An action item needs {' and '.join(names[n] for n in missing)}: "
        f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing.",
        rule="8.2/8.3 every action item has an owner and a due date",
        field=missing[0],
    )


def action_item_create(*, actor, pir_id, **fields) -> ActionItem:
    with transaction.atomic():
        incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        require_may_manage_action_items(actor, incident, pir, "add")
        now = timezone.now()
        status = fields.pop("status", ActionStatus.OPEN)
        item = ActionItem(pir=pir, incident=incident, created_at=now, created_by=actor, **fields)
        _require_owner_and_due_date(item)
        _apply_status(item, status, now)
        item.save()
        return item


def action_item_update(*, actor, pir_id, item_id, version: int | None = None, **fields):
    """Change an action item.

    1. Lock the incident and the review (see _lock), then the item.
    2. The item's owner, the review's author, the IC or an SRE lead only.
    3. `version`, when given, must be the item's current one: someone else's change since the
       caller read it is a 409 (StaleWrite) naming the current version, and nothing changes.
    4. Nothing to change (only `version` sent): the item as it is, unsaved.
    5. Apply the fields; the result must still have an owner and a due date (an item from
       before that rule gets them here, or is not changed).
    6. Save with the version raised.
    """
    with transaction.atomic():
        incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        item = action_item_get_for_user(actor, pir, item_id)
        item = ActionItem.objects.select_for_update().get(pk=item.pk)
        require_may_change_action_item(actor, incident, pir, item)
        if version is not None and version != item.version:
            raise StaleWrite(
                f"This action item was changed by someone else (version {item.version}, "
                f"you edited version {version}); reload it and apply your change again.",
                version=item.version,
            )
        if not fields:
            return item
        now = timezone.now()
        if "status" in fields:
            _apply_status(item, fields.pop("status"), now)
        for name, value in fields.items():
            setattr(item, name, value)
        _require_owner_and_due_date(item)
        item.version += 1
        item.save()
        return item


def action_item_delete(*, actor, pir_id, item_id) -> None:
    with transaction.atomic():
        incident, pir = _lock(actor, pir_id)
        require_writer(actor)
        require_may_manage_action_items(actor, incident, pir, "remove")
        action_item_get_for_user(actor, pir, item_id).delete()
