"""Escalation contacts' response times (procedures 5.3): whether the contacts paged answered
in time. The `response` deadline kind (incidents/deadline_kinds/responses.py) plans each
contact's deadline ahead, with the escalation that pages them, and marks the silent ones
late; this module records the requests, the answers and the next step.

A 5.1 escalation gets an `EscalationResponse` row only when there is something to record (an
answer, lateness): until then its fired deadline and pages say who was paged and when
(`selectors.escalation_responses_current`), so the sweeper writes nothing more when it
escalates. A 5.4 request's row is written with the request."""

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
    escalation_responses_current,
    escalation_responses_paging,
    incident_get_for_user,
)
from ..states import TimelineKind
from .escalations import escalation_request_send
from .timeline import timeline_record

RESPONSE_KIND = "response"  # the deadline kind (incidents/deadline_kinds/responses.py)
# Escalations whose purpose is an acknowledgement of the incident (5.1 "not acknowledged in"):
# anyone's acknowledgement answers them.
SETTLED_BY_INCIDENT_ACK = frozenset({"unacknowledged"})


def response_key(rule_key: str) -> str:
    """The deadline of the contact paged under `rule_key` (rule:<id> or manual:<id>)."""
    return f"{RESPONSE_KIND}:{rule_key}"


def response_planned(rule_key: str, target: str, name: str, minutes: int, due_at) -> Planned:
    label = f"{name} to acknowledge the escalation (5.3: response time {minutes} min)"
    data = {"rule_key": rule_key, "target": target, "minutes": minutes, "label": label}
    return Planned(RESPONSE_KIND, due_at, data)


def escalation_responses_on_request(incident: Incident, event) -> None:
    """Reaction to `escalation_requested` (5.4, and the next step after a late contact): when
    the target is a 5.3 contact, record the request's response time and plan the deadline
    that marks it late (when the `response` kind runs; deadlines_replan plans the same)."""
    contact = EscalationContact.objects.filter(role=event.data.get("target") or "").first()
    rule_key = event.data.get("rule_key") or ""
    if contact is None or not rule_key:
        return
    response = EscalationResponse.objects.create(
        incident=incident,
        rule_key=rule_key,
        target=contact.role,
        contact_name=contact.name,
        response_minutes=contact.response_minutes,
        paged_at=event.occurred_at,
        due_at=event.occurred_at + timedelta(minutes=contact.response_minutes),
    )
    if RESPONSE_KIND in DEADLINE_KINDS:
        planned = response_planned(
            rule_key, contact.role, contact.name, contact.response_minutes, response.due_at
        )
        Deadline.objects.create(
            incident=incident,
            kind=RESPONSE_KIND,
            key=response_key(rule_key),
            due_at=planned.due_at,
            data=planned.data,
            created_at=event.occurred_at,
        )


def escalation_responses_acknowledge(incident: Incident, actor, at: datetime) -> list[str]:
    """An acknowledgement of `incident` by `actor` (API, dashboard, a page's link, taking the
    IC role, an alert source), with the incident locked: it answers every escalation that
    paged `actor`, and, when it is the incident's first, the escalations that asked for
    exactly that. Their pending response deadlines are cancelled. Returns their rule keys."""
    first = incident.acknowledged_at is None
    open_ = [r for r in escalation_responses_current(incident) if r.status != "acknowledged"]
    mine = {r.rule_key for r in escalation_responses_paging(incident, actor, open_)}
    answered = []
    for response in open_:
        paged = response.rule_key in mine
        if not paged and not (first and response.trigger in SETTLED_BY_INCIDENT_ACK):
            continue
        response.acknowledged_at, response.acknowledged_by = at, actor
        response.save()  # a 5.1 escalation's row is written now
        answered.append(response.rule_key)
        if paged:
            _record_answer(incident, response, actor, at)
    if answered:
        Deadline.objects.filter(
            incident=incident,
            key__in=[response_key(k) for k in answered],
            status=Deadline.Status.PENDING,
        ).update(status=Deadline.Status.CANCELLED, updated_at=at)
    return answered


def _record_answer(incident: Incident, response: EscalationResponse, actor, at) -> None:
    seconds = int((at - response.paged_at).total_seconds())
    late = " — late" if response.late_at is not None else ""
    timeline_record(
        incident,
        TimelineKind.ESCALATION_ACKNOWLEDGED,
        f"{actor.username} acknowledged as {response.contact_name}, {seconds // 60} min after "
        f"the page (5.3: response time {response.response_minutes} min){late}",
        actor=actor,
        occurred_at=at,
        data={
            "response": response.pk,
            "rule_key": response.rule_key,
            "target": response.target,
            "late": bool(late),
            "seconds_after_page": seconds,
        },
    )


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
        reason = (reason or "").strip() or (
            f"{late.contact_name} did not acknowledge within {late.response_minutes} min (5.3)"
        )
        event, page_ids = escalation_request_send(
            incident,
            actor=actor,
            target=following.role,
            reason=reason,
            requested_action="",
            now=timezone.now(),
        )
        late.next_response = EscalationResponse.objects.filter(
            incident=incident, rule_key=event.data["rule_key"]
        ).first()
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
