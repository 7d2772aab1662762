"""Escalation contacts' response times (procedures 5.3): who was paged as a contact and
whether they answered in time. The `response` deadline kind (incidents/deadline_kinds/
responses.py) marks the silent ones late; this module records the paging, the answers and the
next step."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ..errors import TransitionRefused
from ..escalation import Planned, escalation_next_contact
from ..hooks import DEADLINE_KINDS
from ..models import Deadline, EscalationContact, EscalationResponse, Incident
from ..permissions import require_writer
from ..selectors import (
    escalation_contacts_engaged,
    escalation_responses_paging,
    incident_get_for_user,
)
from ..states import TimelineKind
from .escalations import escalation_request_send
from .timeline import timeline_record

RESPONSE_KIND = "response"  # the deadline kind (incidents/deadline_kinds/responses.py)


def response_key(response: EscalationResponse) -> str:
    return f"{RESPONSE_KIND}:{response.pk}"


def response_planned(response: EscalationResponse) -> Planned:
    """The deadline that marks `response` late, as the kind's planner and this module plan it."""
    label = (
        f"{response.contact_name} to acknowledge the escalation "
        f"(5.3: response time {response.response_minutes} min)"
    )
    return Planned(
        RESPONSE_KIND,
        response.due_at,
        {"response": response.pk, "target": response.target, "label": label},
    )


# Escalations whose purpose is an acknowledgement of the incident (5.1 "not acknowledged in"):
# anyone's acknowledgement answers them.
SETTLED_BY_INCIDENT_ACK = frozenset({"unacknowledged"})


def escalation_responses_on_escalation(incident: Incident, event) -> None:
    """Reaction to `escalated` (a 5.1 rule fired) and `escalation_requested` (5.4): when the
    target is a 5.3 contact with a response time, record that it is awaited until when (who
    was paged are the escalation's pages), and plan the deadline that marks it late (when the
    `response` kind runs). In the sweeper this is one SELECT and two INSERTs per escalation."""
    contact = EscalationContact.objects.filter(role=event.data.get("target") or "").first()
    if contact is None:
        return
    automatic = event.kind == TimelineKind.ESCALATED
    response = EscalationResponse.objects.create(
        incident=incident,
        event=event,
        escalation_id=event.data.get("deadline") if automatic else None,
        rule_key="" if automatic else event.data.get("rule_key", ""),
        target=contact.role,
        contact_name=contact.name,
        response_minutes=contact.response_minutes,
        trigger=event.data.get("trigger", "") if automatic else "",
        paged_at=event.occurred_at,
        due_at=event.occurred_at + timedelta(minutes=contact.response_minutes),
    )
    if RESPONSE_KIND in DEADLINE_KINDS:  # as deadlines_replan would plan it
        planned = response_planned(response)
        Deadline.objects.create(
            incident=incident,
            kind=RESPONSE_KIND,
            key=response_key(response),
            due_at=planned.due_at,
            data=planned.data,
        )


def escalation_responses_acknowledge(incident: Incident, actor, at: datetime) -> list[int]:
    """An acknowledgement of `incident` by `actor` (API, dashboard, a page's link, an alert
    source), with the incident locked: it answers every escalation that paged `actor`, and, when
    it is the incident's first, the escalations that asked for exactly that. Their pending
    response deadlines are cancelled. Returns the ids of the responses it answered."""
    first = incident.acknowledged_at is None
    awaiting = list(
        EscalationResponse.objects.select_for_update().filter(
            incident=incident, acknowledged_at__isnull=True
        )
    )
    mine = {r.pk for r in escalation_responses_paging(incident, actor, awaiting)}
    answered = []
    for response in awaiting:
        paged = response.pk in mine
        if not paged and not (first and response.trigger in SETTLED_BY_INCIDENT_ACK):
            continue
        response.acknowledged_at, response.acknowledged_by = at, actor
        response.save(update_fields=["acknowledged_at", "acknowledged_by"])
        answered.append(response.pk)
        if paged:
            minutes = int((at - response.paged_at).total_seconds() // 60)
            late = " — late" if response.late_at is not None else ""
            timeline_record(
                incident,
                TimelineKind.ESCALATION_ACKNOWLEDGED,
                f"{actor.username} acknowledged as {response.contact_name}, {minutes} min after "
                f"the page (5.3: response time {response.response_minutes} min){late}",
                actor=actor,
                occurred_at=at,
                data={
                    "response": response.pk,
                    "target": response.target,
                    "late": bool(late),
                    "seconds_after_page": int((at - response.paged_at).total_seconds()),
                },
            )
    if answered:
        Deadline.objects.filter(
            incident=incident,
            key__in=[response_key(r) for r in awaiting if r.pk in answered],
            status=Deadline.Status.PENDING,
        ).update(status=Deadline.Status.CANCELLED, updated_at=at)
    return answered


def escalation_page_next(*, actor, incident_id, response_id, reason: str = ""):
    """Page the next escalation contact after one who was late (5.3), with the 5.4 request.
    Returns (timeline event, page ids)."""
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        require_writer(actor)
        late = (
            EscalationResponse.objects.select_for_update()
            .filter(incident=incident, pk=response_id)
            .first()
            if str(response_id).isdigit()
            else None
        )
        if late is None:
            raise Http404("No escalation response with that id on this incident.")
        following = _next_step(incident, late)
        now = timezone.now()
        reason = (reason or "").strip() or (
            f"{late.contact_name} did not acknowledge within {late.response_minutes} min (5.3)"
        )
        event, page_ids = escalation_request_send(
            incident,
            actor=actor,
            target=following.role,
            reason=reason,
            requested_action="",
            now=now,
        )
        late.next_response = EscalationResponse.objects.filter(event=event).first()
        late.save(update_fields=["next_response"])
    return event, page_ids


def _next_step(incident: Incident, late: EscalationResponse) -> EscalationContact:
    """The contact to page after `late`, or a refusal saying why there is none now."""
    if not incident.is_open:
        raise TransitionRefused(
            f"{incident.reference} is resolved: nobody more is paged about it.", allowed=[]
        )
    if late.acknowledged_at is not None:
        who = late.acknowledged_by.username if late.acknowledged_by else "the platform"
        raise TransitionRefused(
            f"{late.contact_name} was answered ({who}, {late.acknowledged_at:%H:%M} UTC): "
            "there is no next step to take.",
            allowed=[],
        )
    if late.late_at is None:
        raise TransitionRefused(
            f"{late.contact_name} is not late: their response time (5.3) runs until "
            f"{late.due_at:%H:%M} UTC.",
            allowed=[],
        )
    if late.next_response_id is not None:
        raise TransitionRefused(
            f"The next step after {late.contact_name} was taken already "
            f"({late.next_response.contact_name} paged).",
            allowed=[],
        )
    already = escalation_contacts_engaged(incident, timezone.now())
    contacts = list(EscalationContact.objects.order_by("id"))
    following = escalation_next_contact(late.target, incident, contacts, already)
    if following is None:
        raise TransitionRefused(
            f"No escalation contact of 5.3 follows {late.contact_name} for this "
            f"{incident.severity} incident that has not been paged already.",
            allowed=[],
        )
    return following
