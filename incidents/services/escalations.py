"""Manual escalation (procedures 5.2, 5.4) and paging a responder (9.3 `/pd page`)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from ..errors import RuleViolation
from ..escalation import TARGET_LABELS, Recipients, without_role_holders
from ..models import EscalationContact, Incident, User
from ..outbox import outbox_enqueue
from ..permissions import require_writer
from ..rules import bridge_or_none
from ..selectors import incident_active_roles, incident_get_for_user
from ..states import Role, Severity, Status, TimelineKind
from .paging import KIND as PAGE
from .paging import pages_build
from .timeline import timeline_record

MANUAL_TARGETS = (
    "backup_on_call",
    "engineering_manager",
    "vp_engineering",
    "cto",
    "security_lead",
    "ceo",
)


def _duration(incident: Incident, now) -> str:
    minutes = int((now - incident.detected_at).total_seconds() // 60)
    return (
        f"{minutes // 60} h {minutes % 60:02d} min since detection"
        if minutes >= 60
        else f"{minutes} min since detection"
    )


def escalation_request_text(incident: Incident, *, reason: str, requested_action: str, now) -> str:
    """The escalation request template of 5.4, filled from the incident."""
    active = incident_active_roles(incident)
    holder = {a.role: a.user for a in active if a.role != Role.SME}
    others = [
        f"{a.user.username} ({Role(a.role).label})"
        for a in active
        if a.role not in (Role.INCIDENT_COMMANDER, Role.TECH_LEAD)
    ]
    return render_to_string(
        "incidents/escalation_request.txt",
        {
            "incident": incident,
            "duration": _duration(incident, now),
            "status": Status(incident.status).label,
            "reason": reason,
            "requested_action": requested_action,
            "ic": holder.get(Role.INCIDENT_COMMANDER),
            "tech_lead": holder.get(Role.TECH_LEAD),
            "others": ", ".join(others),
            "bridge": bridge_or_none(incident),
        },
    ).strip()


def incident_escalate(*, actor, incident_id, target: str, reason: str, requested_action: str = ""):
    """Send the 5.4 escalation request to the people behind an escalation contact (5.3) and
    record it. Returns (timeline event, page ids)."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(
            "reason is required: say why escalation is needed (5.4).",
            rule="reason required",
            field="reason",
        )
    if target not in MANUAL_TARGETS:
        raise RuleViolation(
            f"target must be one of {', '.join(MANUAL_TARGETS)}.",
            rule="escalation target",
            field="target",
        )
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        require_writer(actor)
        event, page_ids = escalation_request_send(
            incident,
            actor=actor,
            target=target,
            reason=reason,
            requested_action=requested_action,
            now=timezone.now(),
        )
    return event, page_ids


def escalation_request_send(
    incident: Incident, *, actor, target: str, reason: str, requested_action: str, now
):
    """Page the people behind `target` with the 5.4 request and write its timeline event
    (whose reaction starts timing their response, 5.3). Call with the incident locked and the
    actor's permission checked. Returns (timeline event, page ids)."""
    contact = EscalationContact.objects.filter(role=target).first()
    if contact is not None and contact.p1_only and incident.severity != Severity.P1:
        raise RuleViolation(
            f"{contact.name} is escalated to for P1 only (procedures 5.3); "
            f"this is {incident.severity}.",
            rule=f"{contact.name} (P1 only)",
            field="target",
        )
    text = escalation_request_text(
        incident, reason=reason, requested_action=requested_action, now=now
    )
    people, note = Recipients(now).resolve(target, incident)
    people, skipped = without_role_holders(incident, people)
    if not people:
        raise RuleViolation(
            f"Nobody to escalate to as {TARGET_LABELS[target]}: "
            f"{'; '.join(skipped) or note or 'no one holds that rank'}.",
            rule="escalation target resolvable",
            field="target",
        )
    key = f"manual:{uuid.uuid4().hex[:12]}"
    page_ids, summary = pages_build(
        incident,
        deadline=None,
        rule_key=key,
        reason=f"Escalation request from {actor.username}: {reason}",
        people=[(target, p) for p in people],
        at=now,
        body=text,
    )
    event = timeline_record(
        incident,
        TimelineKind.ESCALATION_REQUESTED,
        f"Escalation to {TARGET_LABELS[target]} requested: {reason} — paged {summary}"
        + (f" ({'; '.join(skipped)})" if skipped else ""),
        actor=actor,
        occurred_at=now,
        data={
            "target": target,
            "reason": reason,
            "requested_action": requested_action,
            "request": text,
            "response_minutes": contact.response_minutes if contact else None,
            "pages": page_ids,
            "skipped": skipped,
            "rule_key": key,
        },
    )
    transaction.on_commit(lambda: outbox_enqueue(PAGE, page_ids))
    return event, page_ids


def incident_page_user(*, actor, incident_id, user: User, reason: str):
    """`/pd page @username "reason"` (9.3): page one responder about this incident."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("reason is required.", rule="reason required", field="reason")
    if not user.is_active:
        raise RuleViolation(
            f"{user.username} is not an active user.", rule="active user", field="username"
        )
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        require_writer(actor)
        now = timezone.now()
        key = f"page:{uuid.uuid4().hex[:12]}"
        page_ids, summary = pages_build(
            incident,
            deadline=None,
            rule_key=key,
            reason=f"Paged by {actor.username}: {reason}",
            people=[("user", user)],
            at=now,
        )
        event = timeline_record(
            incident,
            TimelineKind.PAGED,
            f"Paged {summary}: {reason}",
            actor=actor,
            occurred_at=now,
            data={"user": user.username, "reason": reason, "pages": page_ids},
        )
        transaction.on_commit(lambda: outbox_enqueue(PAGE, page_ids))
    return event, page_ids
