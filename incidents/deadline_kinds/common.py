"""What the core's deadline kinds share: whom a reminder goes to, whom it escalates to, and
the page-and-record step each firer ends with."""

from __future__ import annotations

from datetime import datetime

from ..escalation import Recipients
from ..hooks import Fired
from ..models import Deadline, Incident
from ..selectors import incident_active_roles
from ..services.paging import pages_build
from ..states import Role

People = list[tuple[str, object]]


def declarer_or_on_call(incident: Incident, recipients: Recipients) -> tuple[People, str]:
    """Whoever declared the incident; the on-call engineer of the affected services' teams when
    the platform declared it (an alert) or the declarer is gone."""
    declarer = incident.declared_by
    if declarer is not None and declarer.is_active:
        return [("declarer", declarer)], ""
    people, note = recipients.resolve("on_call", incident)
    return [("on_call", person) for person in people], note


def ic_or_declarer(incident: Incident, recipients: Recipients) -> tuple[People, str]:
    """The Incident Commander, else as `declarer_or_on_call`."""
    for assignment in incident_active_roles(incident):
        if assignment.role == Role.INCIDENT_COMMANDER and assignment.user.is_active:
            return [("incident_commander", assignment.user)], ""
    return declarer_or_on_call(incident, recipients)


def escalation_manager(incident: Incident, recipients: Recipients) -> tuple[People, str]:
    """The manager a first-minutes reminder escalates to: the Engineering Manager of the teams
    owning the affected services, found as 5.1's escalations find them. The one place to
    change when teams name their own escalation target."""
    people, note = recipients.resolve("manager", incident)
    if not people:
        note = note or "no Engineering Manager to escalate to"
    return [("manager", person) for person in people], note


def fired_with_pages(
    deadline: Deadline,
    incident: Incident,
    at: datetime,
    *,
    timeline_kind: str,
    what: str,
    people: People,
    note: str,
    data: dict,
) -> Fired:
    """Page `people` about `what` (one page per person and contact method; recorded as
    suppressed on a drill) and say so on the timeline."""
    page_ids, summary = pages_build(
        incident, deadline=deadline, rule_key=deadline.key, reason=what, people=people, at=at
    )
    text = f"{what} — paged {summary}" if summary else f"{what} — nobody paged"
    if note:
        text += f" ({note})"
    data = {**data, "label": deadline.data.get("label", ""), "pages": page_ids}
    data["notes"] = [note] if note else []
    return Fired(timeline_kind, text, data, page_ids)
