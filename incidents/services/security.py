"""Security incidents after declaration: an incident becomes one (or stops being one), and a
restricted incident gets the words the public may be told (procedures 2.1, 5.1, 6.2)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..errors import RuleViolation
from ..escalation import Recipients
from ..models import Deadline, EscalationRule, Incident
from ..outbox import outbox_enqueue
from ..permissions import require_may_approve_public_text, require_may_set_security
from ..selectors import incident_get_for_user, incident_ic_id, incident_is_restricted
from ..states import AuditAction, TimelineKind
from .audit import audit_record
from .paging import KIND as PAGE
from .paging import pages_build
from .timeline import timeline_record
from .timers import deadlines_replan

PUBLIC_TITLE_MAX = 200
PUBLIC_TEXT_MAX = 5000


def incident_security_set(
    *, actor, incident_id, security: bool, reason: str, at: datetime | None = None
) -> Incident:
    """Make an incident a security incident (restricted), or an ordinary one again.

    1. A reason is required (400).
    2. Lock the incident (404 when `actor` may not see it).
    3. Check permission: becoming one takes the IC, an SRE lead or the security group;
       ceasing to be one the security group or an SRE lead (it opens the incident to all).
    4. Set the flag. Becoming restricted withdraws any earlier approval of public words
       (they are approved for the incident as it now is).
    5. Re-plan the deadlines: 5.1's security rule is due at once (counted from detection),
       so the next sweep pages the Security Lead; when that rule already fired for this
       incident, the Security Lead is paged here. Ceasing cancels it if still pending.
    6. Write the timeline event (with the reason) and the audit row (which names the
       incident by its reference only: the audit log is read by SRE leads outside the
       security group, and a restricted incident's title and reasons are its details).
    """
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(
            "reason is required: say why this is (or is no longer) a security incident.",
            rule="reason required",
            field="reason",
        )
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        require_may_set_security(actor, security, incident_ic_id(incident))
        if incident.security == security:
            state = "already" if security else "not"
            raise RuleViolation(
                f"{incident.reference} is {state} a security incident; nothing changed.",
                rule="security flag unchanged",
                field="security",
            )
        now = at or timezone.now()
        incident.security = security
        fields = ["security", "updated_at"]
        if security and incident.public_approved_at is not None:
            incident.public_approved_at, incident.public_approved_by = None, None
            fields += ["public_approved_at", "public_approved_by"]
        incident.save(update_fields=fields)
        deadlines_replan(incident, now=now)
        page_ids = _page_security_lead_again(incident, actor, reason, now) if security else []
        who = actor.username if actor is not None else "the platform"
        text = (
            f"Made a security incident (restricted) by {who}: {reason}"
            if security
            else f"No longer a security incident (visible to everyone) by {who}: {reason}"
        )
        event = timeline_record(
            incident,
            TimelineKind.SECURITY_CHANGED,
            text,
            actor=actor,
            occurred_at=now,
            data={"security": security, "reason": reason, "pages": page_ids},
        )
        audit_record(
            AuditAction.INCIDENT_RESTRICTED if security else AuditAction.INCIDENT_UNRESTRICTED,
            actor=actor,
            target=incident,
            target_repr=incident.reference,
            details={"incident": incident.pk, "timeline_event": event.pk},
        )
    return incident


def _page_security_lead_again(incident: Incident, actor, reason: str, now) -> list[int]:
    """5.1 "Any security incident → Security Lead immediately" is an escalation rule whose
    deadline fires at most once per incident. Once it has fired (the incident was a security
    incident before), becoming one again pages the Security Lead here; otherwise the rule's
    deadline, just planned due at once, does at the next sweep."""
    keys = [
        f"rule:{pk}"
        for pk in EscalationRule.objects.filter(enabled=True, trigger="security").values_list(
            "pk", flat=True
        )
    ]
    fired = Deadline.objects.filter(incident=incident, key__in=keys, status=Deadline.Status.FIRED)
    if not keys or not fired.exists():
        return []
    people, _note = Recipients(now).resolve("security_lead", incident)
    who = actor.username if actor is not None else "the platform"
    page_ids, _summary = pages_build(
        incident,
        deadline=None,
        rule_key=f"security:{uuid.uuid4().hex[:12]}",
        reason=f"Security incident again (by {who}): {reason}",
        people=[("security_lead", person) for person in people],
        at=now,
    )
    transaction.on_commit(lambda: outbox_enqueue(PAGE, page_ids))
    return page_ids


def public_words_clean(public_title: str, public_text: str) -> tuple[str, str]:
    """The public title and text stripped, or a RuleViolation naming the field (the admin
    form asks this too, to show the problem next to the field)."""
    title, text = (public_title or "").strip(), (public_text or "").strip()
    for field, value, limit in (
        ("public_title", title, PUBLIC_TITLE_MAX),
        ("public_text", text, PUBLIC_TEXT_MAX),
    ):
        if not value:
            raise RuleViolation(
                f"{field} must not be empty: it is what the status page and customer email say.",
                rule="public title and text required",
                field=field,
            )
        if len(value) > limit:
            raise RuleViolation(
                f"{field} is longer than {limit} characters.", rule="length", field=field
            )
    return title, text


def incident_public_text_approve(
    *, actor, incident_id, public_title: str, public_text: str, at: datetime | None = None
) -> Incident:
    """Set and approve what the public may be told of a security incident (2.1: status page,
    customer email): a title and a text of their own, never its internal title, services or
    details. From then on the status page, its subscribers and customer email say these.

    1. Check the words (400 naming the field).
    2. Lock the incident (404 when `actor` may not see it); the security group only (403).
    3. An ordinary incident has no separate public words (400).
    4. Words already approved as they are change nothing (two members approving the same
       words at once write one approval); other words replace them, on the timeline.
    """
    title, text = public_words_clean(public_title, public_text)
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        require_may_approve_public_text(actor)
        if not incident_is_restricted(incident):
            raise RuleViolation(
                f"{incident.reference} is not a security incident: the status page and customer "
                "email use its own title and the procedures' templates.",
                rule="public title and text: security incidents only",
                field="public_title",
            )
        approved = incident.public_approved_at is not None
        if approved and (incident.public_title, incident.public_text) == (title, text):
            return incident
        now = at or timezone.now()
        previous = (
            {"public_title": incident.public_title, "public_text": incident.public_text}
            if approved
            else None
        )
        incident.public_title, incident.public_text = title, text
        incident.public_approved_at, incident.public_approved_by = now, actor
        incident.save(
            update_fields=[
                "public_title",
                "public_text",
                "public_approved_at",
                "public_approved_by",
                "updated_at",
            ]
        )
        timeline_record(
            incident,
            TimelineKind.PUBLIC_TEXT_APPROVED,
            f"Public title and text approved by {actor.username}: {title}",
            actor=actor,
            occurred_at=now,
            data={"public_title": title, "public_text": text, "replaces": previous},
        )
    return incident
