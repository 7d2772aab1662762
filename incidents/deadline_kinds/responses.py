"""5.3 "Response Time": the deadline by which each escalation contact paged must have
acknowledged. For a 5.1 escalation it is planned ahead, with the escalation itself (the
same `plan_deadlines`, the escalation's due time + the contact's response time, moved to
its firing + the response time at the next re-plan), so the sweeper does no more work when
it escalates; for a 5.4 request it is written with the request. When it is due and the
contact has not acknowledged, the contact is marked late, the IC (else the declarer) is
told, and the next contact of 5.3 is offered (`POST …/escalation-responses/<id>/page-next/`,
the dashboard's button). Acknowledging (API, dashboard, the page's link) records the answer
and cancels the deadline; the firer checks again under the incident's row lock."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..escalation import Planned, Recipients, escalation_next_contact, plan_deadlines
from ..models import Deadline, EscalationContact, Incident
from ..selectors import (
    escalation_contacts_engaged,
    escalation_response_people,
    escalation_responses_current,
    policy_for,
    policy_rules_enabled,
)
from ..services.responses import RESPONSE_KIND, response_key, response_planned
from ..states import Status, TimelineKind
from .common import fired_with_pages, ic_or_declarer

KIND = RESPONSE_KIND


def plan(incident: Incident, now: datetime) -> dict[str, Planned]:
    """A deadline for every contact awaited: each 5.1 escalation to a 5.3 contact that applies
    now (pending or fired) and is not answered or late, and each 5.4 request awaited."""
    if incident.status == Status.RESOLVED:
        return {}
    contacts = {c.role: c for c in EscalationContact.objects.all()}
    recorded = {r.rule_key: r for r in incident.escalation_responses.all()}
    fired = {
        d.key: d.fired_at
        for d in incident.deadlines.filter(kind="escalation", status=Deadline.Status.FIRED)
    }
    rules = policy_rules_enabled()
    planned = {}
    for key, escalation in plan_deadlines(
        incident, rules, policy_for(incident.severity), now
    ).items():
        contact = contacts.get(escalation.data.get("target"))
        if escalation.kind != "escalation" or contact is None:
            continue
        if key in recorded and recorded[key].status != "awaiting":
            continue
        paged = fired.get(key, escalation.due_at)
        due = paged + timedelta(minutes=contact.response_minutes)
        planned[response_key(key)] = response_planned(
            key, contact.role, contact.name, contact.response_minutes, due
        )
    for key, response in recorded.items():
        if key not in planned and not key.startswith("rule:") and response.status == "awaiting":
            planned[response_key(key)] = response_planned(
                key,
                response.target,
                response.contact_name,
                response.response_minutes,
                response.due_at,
            )
    return planned


def fire(deadline: Deadline, incident: Incident, recipients: Recipients, at: datetime):
    """Mark the contact late and offer the next one. None (cancelled) when they answered, the
    incident is resolved, or nobody was paged before this was due (the escalation has not
    fired: the sweeper was behind; the next re-plan counts from its firing)."""
    if incident.status == Status.RESOLVED:
        return None
    rule_key = deadline.data.get("rule_key", "")
    response = next(
        (r for r in escalation_responses_current(incident) if r.rule_key == rule_key), None
    )
    if response is None or response.status != "awaiting" or response.paged_at > deadline.due_at:
        return None
    response.late_at = at
    response.save()  # a 5.1 escalation's row is written now
    following = escalation_next_contact(
        response.target,
        incident,
        list(EscalationContact.objects.order_by("id")),
        escalation_contacts_engaged(incident, at),
    )
    names = ", ".join(escalation_response_people(incident, [response])[rule_key])
    what = (
        f"{response.contact_name} ({names or 'nobody was paged'}) has not acknowledged within "
        f"{response.response_minutes} min (5.3)"
    )
    what += (
        f"; next step offered: page {following.name}"
        if following is not None
        else "; no further escalation contact (5.3)"
    )
    people, note = ic_or_declarer(incident, recipients)
    return fired_with_pages(
        deadline,
        incident,
        at,
        timeline_kind=TimelineKind.ESCALATION_LATE,
        what=what,
        people=people,
        note=note,
        data={
            "response": response.pk,
            "rule_key": rule_key,
            "target": response.target,
            "next": following.role if following is not None else None,
        },
    )
