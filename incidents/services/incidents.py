import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import RuleViolation, TransitionRefused
from ..models import ChecklistItem, Incident, Service, User
from ..permissions import (
    require_can_change_severity,
    require_can_transition,
    require_may_acknowledge,
    require_may_acknowledge_by_link,
    require_writer,
)
from ..policy import CHECKLIST_DEFAULTS
from ..rules import channel_name_for, check_severity_reason, resolution_blockers, role_warnings
from ..selectors import (
    escalation_awaits,
    incident_active_roles,
    incident_allowed_targets,
    incident_get_for_user,
    incident_ic_id,
    incident_transitions_from,
    policy_for,
    policy_read_once,
    policy_settings,
)
from ..states import Checklist, Role, Severity, Status, TimelineKind
from .bridge import bridge_follow_severity, bridge_url_for
from .responses import escalation_responses_acknowledge
from .timeline import checklist_auto_tick, timeline_record
from .timers import deadlines_replan

# Clocks of senders and browsers drift; a "detected at" this far ahead of ours is still "now".
CLOCK_SKEW = timedelta(seconds=5)


def _check_declared_times(started_at, detected_at, now):
    if detected_at > now + CLOCK_SKEW:
        raise RuleViolation(
            "detected_at is in the future.",
            rule="detected_at not in the future",
            field="detected_at",
        )
    if started_at is not None:
        if started_at > now + CLOCK_SKEW:
            raise RuleViolation(
                "started_at is in the future.",
                rule="started_at not in the future",
                field="started_at",
            )
        if started_at > detected_at:
            raise RuleViolation(
                "started_at is after detected_at: impact cannot begin after it was detected.",
                rule="started_at <= detected_at",
                field="started_at",
            )


def incident_declare(
    *,
    actor,
    title: str,
    severity: str,
    detection_source: str,
    description: str = "",
    symptoms: str = "",
    impact: str = "",
    workaround: str = "",
    services: list[Service] | tuple = (),
    security: bool = False,
    drill: bool = False,
    started_at: datetime | None = None,
    detected_at: datetime | None = None,
    at: datetime | None = None,
) -> Incident:
    """Declare an incident (procedures 4.2): channel and bridge named, checklists laid out, the
    declaration on the timeline. Timers count from `detected_at`, which may be in the past."""
    if actor is not None:
        require_writer(actor)
    now = timezone.now()
    if at is not None:  # internal callers replaying history (imports, demo data), never the API
        now = min(at, now)
    detected_at = detected_at or now
    _check_declared_times(started_at, detected_at, now)
    if severity not in Severity.values:
        raise RuleViolation(
            f"severity must be one of {', '.join(Severity.values)}.",
            rule="severity",
            field="severity",
        )
    with transaction.atomic(), policy_read_once():
        incident = _create_with_unique_channel(
            title=title,
            description=description,
            symptoms=symptoms,
            impact=impact,
            workaround=workaround,
            severity=severity,
            detection_source=detection_source,
            security=security,
            drill=drill,
            started_at=started_at,
            detected_at=detected_at,
            declared_at=now,
            declared_by=actor,
        )
        incident.services.set(services)
        ChecklistItem.objects.bulk_create(
            ChecklistItem(
                incident=incident,
                checklist=checklist,
                key=key,
                position=pos,
                phase=phase,
                text=text,
            )
            for checklist, items in CHECKLIST_DEFAULTS.items()
            for pos, (key, text, phase) in enumerate(items)
        )
        ticked = checklist_auto_tick(incident, "declared", actor=actor, at=now)
        timeline_record(
            incident,
            TimelineKind.DECLARED,
            f"Declared {severity}: {title}",
            actor=actor,
            occurred_at=now,
            data={
                "severity": severity,
                "security": security,
                "services": [s.slug for s in services],
                "detected_at": detected_at.isoformat(),
                "started_at": started_at.isoformat() if started_at else None,
                "channel_name": incident.channel_name,
                "bridge_url": incident.bridge_url,
                "ticked": ticked,
            },
        )
        deadlines_replan(incident, now=now)
    return incident


def _create_with_unique_channel(**fields) -> Incident:
    """Insert the incident under the first free channel name of its day and title. A name
    taken meanwhile by a concurrent declaration fails the unique index inside a savepoint,
    and the next suffix is tried. The bridge (6.1) is set up where the severity's policy has
    one (P1 always, P2 recommended); P3/P4 get one when the IC asks."""
    with_bridge = policy_for(fields["severity"]).bridge != "none"
    for channel in _free_channel_names(fields["detected_at"], fields["title"]):
        try:
            with transaction.atomic():
                return Incident.objects.create(
                    channel_name=channel,
                    bridge_url=bridge_url_for(channel) if with_bridge else "",
                    **fields,
                )
        except IntegrityError:
            if not Incident.objects.filter(channel_name=channel).exists():
                raise
    raise RuleViolation("Could not name a unique incident channel.", rule="channel_name")


# Channel names probed per query after the plain name is taken (an alert storm can declare
# thousands of incidents with one title in a day: each declaration costs a query or two).
CHANNEL_PROBE = 200
CHANNEL_ATTEMPTS = 1_000_000


def _free_channel_names(detected_at, title: str):
    """The channel names of the day and title not taken yet, in suffix order: the plain name
    first (one query), then the suffixed ones, CHANNEL_PROBE to a query."""
    start = 1
    while start < CHANNEL_ATTEMPTS:
        size = 1 if start == 1 else CHANNEL_PROBE
        names = [channel_name_for(detected_at, title, n) for n in range(start, start + size)]
        taken = set(
            Incident.objects.filter(channel_name__in=names).values_list("channel_name", flat=True)
        )
        yield from (name for name in names if name not in taken)
        start += size


def incident_acknowledge(
    *, actor, incident_id, at: datetime | None = None, via: str = "api"
) -> Incident:
    """Acknowledge (procedures 4.2 step 1): sets acknowledged_at (for MTTA) and stops the
    acknowledgement escalations. Idempotent: the first acknowledgement stands."""
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        if actor is not None:
            require_may_acknowledge(actor, awaited=escalation_awaits(incident, actor))
        return acknowledgement_record(incident, actor, at or timezone.now(), via)


def incident_acknowledge_by_link(*, token: str, at: datetime | None = None) -> Incident:
    """Acknowledge through the signed, expiring link in a page. The signature is the
    permission: it proves the platform paged this person about this incident."""
    from .paging import ack_token_read

    hours = policy_settings().ack_link_valid_hours
    incident_id, user_id = ack_token_read(token, max_age_seconds=hours * 3600)
    with transaction.atomic():
        incident = incident_get_for_user(None, incident_id, for_update=True)
        user = User.objects.get(pk=user_id, is_active=True)
        require_may_acknowledge_by_link(incident, user)
        return acknowledgement_record(incident, user, at or timezone.now(), "page link")


def acknowledgement_record(
    incident: Incident, actor, at: datetime, via: str, by=None, replan: bool = True
) -> Incident:
    """The first acknowledgement stands. `by` is whose acknowledgement it is when that is not
    the actor's (an IC someone else assigned, incidents.services.roles). Whoever it is
    answers the escalations that paged them (5.3), first or not. `replan=False`: the caller
    re-plans the deadlines itself before its transaction ends."""
    escalation_responses_acknowledge(incident, by or actor, at)
    if incident.acknowledged_at is not None:
        return incident
    by = by or actor
    incident.acknowledged_at, incident.acknowledged_by = at, by
    incident.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
    ticked = checklist_auto_tick(incident, "acknowledged", actor=actor, at=at)
    if replan:
        deadlines_replan(incident, now=at)  # after the ticks: the triage reminder sees them
    who = by.username if by else "the platform"
    timeline_record(
        incident,
        TimelineKind.ACKNOWLEDGED,
        f"Acknowledged by {who} ({via})",
        actor=actor,
        occurred_at=at,
        data={
            "seconds_after_detection": int((at - incident.detected_at).total_seconds()),
            "via": via,
            "ticked": ticked,
        },
    )
    return incident


def incident_transition(
    *, actor, incident_id, to: str, reason: str = "", at: datetime | None = None
) -> Incident:
    """Move an incident along its lifecycle.

    1. Lock the row (SELECT ... FOR UPDATE): concurrent transitions queue here, and each sees
       the state the previous one left, so exactly one of several identical requests wins.
    2. Find the transition from the current state to `to`; none: 409 with what is allowed.
    3. Check permission, then the preconditions (resolution criteria, stability window).
    4. Run it, save only the changed fields (ConcurrentTransitionMixin also refuses a stale
       state), and write the timeline event in the same transaction.
    """
    reason = (reason or "").strip()
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        at = at or timezone.now()
        current = incident.status
        name = incident_transitions_from(incident).get(to)
        if name is None:
            allowed = incident_allowed_targets(incident, actor)
            why = "it is already there" if to == current else "that would skip or reverse a step"
            raise TransitionRefused(
                f"Cannot move from {current} to {to}: {why}. "
                f"Allowed now: {', '.join(allowed) or 'nothing'}.",
                allowed=allowed,
            )
        require_can_transition(actor, name, incident_ic_id(incident))
        if name == "resolve":
            blockers = resolution_blockers(incident, at)
            if blockers:
                raise TransitionRefused(
                    "Cannot resolve yet: " + "; ".join(blockers) + ".",
                    allowed=incident_allowed_targets(incident, actor),
                    missing=blockers,
                )
        if name == "reopen" and not reason:
            raise RuleViolation(
                "A reason is required to reopen a resolved incident.",
                rule="reopen requires a reason",
                field="reason",
            )
        channel_closed = incident.channel_closed_at is not None
        getattr(incident, name)(at=at)
        incident.save(
            update_fields=[
                "status",
                "identified_at",
                "mitigated_at",
                "resolved_at",
                "channel_closed_at",
                "updated_at",
            ]
        )
        deadlines_replan(incident, now=at)
        data = {"from": current, "to": to, "transition": name, "reason": reason}
        if name == "reopen":
            ChecklistItem.objects.filter(incident=incident, checklist=Checklist.RESOLUTION).update(
                done=False, done_at=None, done_by=None
            )
            data["resolution_criteria_reset"] = True
            text = f"Reopened ({Status(current).label} → {Status(to).label}): {reason}"
            if channel_closed:  # Appendix A closed it after resolution; it is needed again
                data["channel_reopened"] = True
                text += f" (channel {incident.channel_name} reopened)"
            kind = TimelineKind.REOPENED
        else:
            if name == "resolve":
                data["ticked"] = checklist_auto_tick(incident, "resolved", actor=actor, at=at)
            text = f"Status: {Status(current).label} → {Status(to).label}"
            if reason:
                text += f" ({reason})"
            kind = TimelineKind.STATUS_CHANGED
        timeline_record(incident, kind, text, actor=actor, occurred_at=at, data=data)
    return incident


def incident_update(
    *,
    actor,
    incident_id,
    title: str | None = None,
    description: str | None = None,
    symptoms: str | None = None,
    impact: str | None = None,
    workaround: str | None = None,
    services: list[Service] | None = None,
    severity: str | None = None,
    reason: str = "",
) -> Incident:
    """Edit an incident's details and severity; each kind of change is one timeline event.
    A severity change never blocks on role rules; holders who no longer meet them are named
    in the event so the IC can reassign."""
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        if actor is not None:
            require_writer(actor)
        now = timezone.now()
        changed: dict[str, tuple] = {}
        texts = {
            "title": title,
            "description": description,
            "symptoms": symptoms,
            "impact": impact,
            "workaround": workaround,
        }
        for field, value in texts.items():
            if value is not None and getattr(incident, field) != value:
                changed[field] = (getattr(incident, field), value)
                setattr(incident, field, value)
        if changed:
            incident.save(update_fields=[*changed, "updated_at"])
            timeline_record(
                incident,
                TimelineKind.UPDATED,
                "Details updated: " + ", ".join(changed),
                actor=actor,
                occurred_at=now,
                data={f: {"old": old, "new": new} for f, (old, new) in changed.items()},
            )
        if services is not None:
            old = sorted(incident.services.values_list("slug", flat=True))
            new = sorted(s.slug for s in services)
            if old != new:
                incident.services.set(services)
                timeline_record(
                    incident,
                    TimelineKind.UPDATED,
                    f"Affected services: {', '.join(new) or 'none'}",
                    actor=actor,
                    occurred_at=now,
                    data={"services": {"old": old, "new": new}},
                )
        if severity is not None and severity != incident.severity:
            _change_severity(incident, severity, reason, actor, now)
    return incident


def _change_severity(incident: Incident, severity: str, reason: str, actor, now: datetime) -> None:
    """Only the IC or an SRE lead changes severity; lowering it takes a reason. The change
    and its reason go on the timeline, and the IC is paged about it unless they made it."""
    if severity not in Severity.values:
        raise RuleViolation(
            f"severity must be one of {', '.join(Severity.values)}.",
            rule="severity",
            field="severity",
        )
    ic = next(
        (a.user for a in incident_active_roles(incident) if a.role == Role.INCIDENT_COMMANDER),
        None,
    )
    require_can_change_severity(actor, ic.pk if ic else None)
    if not incident.is_open:
        raise TransitionRefused(
            "A resolved incident's severity is final; reopen it first.", allowed=[]
        )
    reason = (reason or "").strip()
    old = incident.severity
    check_severity_reason(old, severity, reason)
    incident.severity = severity
    incident.save(update_fields=["severity", "updated_at"])
    bridge = bridge_follow_severity(incident)
    deadlines_replan(incident, now=now)
    warnings = role_warnings(incident, incident_active_roles(incident), policy_for(severity))
    text = f"Severity {old} → {severity}" + (f": {reason}" if reason else "")
    if warnings:
        text += ". Reassign: " + " ".join(warnings)
    if bridge:
        text += (" " if text.endswith(".") else ". ") + bridge
    data = {"old": old, "new": severity, "reason": reason, "role_warnings": warnings}
    data["bridge"] = {"url": incident.bridge_url, "change": bridge}
    if ic is not None and ic != actor:
        pages = _page_ic_about_severity(incident, ic, actor, old, reason, now)
        data["ic_paged"] = {"user": ic.username, "pages": pages}
        text += f" (IC {ic.username} paged)"
    timeline_record(
        incident, TimelineKind.SEVERITY_CHANGED, text, actor=actor, occurred_at=now, data=data
    )


def _page_ic_about_severity(incident, ic, actor, old: str, reason: str, now) -> list[int]:
    """Page the IC about a severity someone else changed, through the paging machinery (one
    page per change and contact method, sent after commit). Returns the page ids."""
    from ..outbox import outbox_enqueue
    from .paging import KIND as PAGE
    from .paging import pages_build

    who = actor.username if actor is not None else "the platform"
    page_ids, _summary = pages_build(
        incident,
        deadline=None,
        rule_key=f"severity:{uuid.uuid4().hex[:12]}",
        reason=f"severity changed {old} → {incident.severity} by {who}"
        + (f": {reason}" if reason else ""),
        people=[("incident_commander", ic)],
        at=now,
    )
    transaction.on_commit(lambda: outbox_enqueue(PAGE, page_ids))
    return page_ids


def incident_add_note(*, actor, incident_id, text: str, occurred_at: datetime | None = None):
    """A scribe's note (procedures 3.4). `occurred_at` backdates it to when the thing happened
    (never the future)."""
    text = (text or "").strip()
    if not text:
        raise RuleViolation("text must not be empty.", rule="note text required", field="text")
    now = timezone.now()
    if occurred_at is not None and occurred_at > now + CLOCK_SKEW:
        raise RuleViolation(
            "occurred_at is in the future.",
            rule="occurred_at not in the future",
            field="occurred_at",
        )
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        if actor is not None:
            require_writer(actor)
        return timeline_record(
            incident, TimelineKind.NOTE, text, actor=actor, occurred_at=occurred_at or now
        )
