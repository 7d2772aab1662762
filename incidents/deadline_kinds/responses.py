"""5.3 "Response Time": every escalation contact paged (by a 5.1 rule, a 5.4 request, or as
the next step) is an `EscalationResponse` with a due time; at that time a contact who has not
acknowledged is marked late, the IC (else the declarer) is told, and the next contact of 5.3
is offered (`POST …/escalation-responses/<id>/page-next/`, the dashboard's button).
Acknowledging (API, dashboard, the page's link) records the contact's answer and cancels the
deadline; the firer checks again under the incident's row lock."""

from __future__ import annotations

from datetime import datetime

from ..escalation import Planned, Recipients, escalation_next_contact
from ..models import Deadline, EscalationContact, EscalationResponse, Incident
from ..selectors import escalation_contacts_engaged, escalation_response_people
from ..services.responses import RESPONSE_KIND, response_key, response_planned
from ..states import Status, TimelineKind
from .common import fired_with_pages, ic_or_declarer

KIND = RESPONSE_KIND


def plan(incident: Incident, now: datetime) -> dict[str, Planned]:
    if incident.status == Status.RESOLVED:
        return {}
    awaiting = EscalationResponse.objects.filter(
        incident=incident, acknowledged_at__isnull=True, late_at__isnull=True
    )
    return {response_key(r): response_planned(r) for r in awaiting}


def fire(deadline: Deadline, incident: Incident, recipients: Recipients, at: datetime):
    """Mark the contact late and offer the next one; None (cancelled) when they acknowledged
    or the incident is resolved."""
    response = EscalationResponse.objects.filter(
        incident=incident, pk=deadline.data.get("response")
    ).first()
    if response is None or response.status != "awaiting" or incident.status == Status.RESOLVED:
        return None
    response.late_at = at
    response.save(update_fields=["late_at"])
    already = escalation_contacts_engaged(incident, at)
    following = escalation_next_contact(
        response.target, incident, list(EscalationContact.objects.order_by("id")), already
    )
    names = ", ".join(escalation_response_people(incident, [response])[response.pk])
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
            "target": response.target,
            "next": following.role if following is not None else None,
        },
    )
