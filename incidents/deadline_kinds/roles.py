"""Appendix A's first minutes: an Incident Commander within `ic_first_minutes` (FIRST 5
MINUTES), and the other roles the severity fills (`roles_required`: Tech Lead, Comms,
Scribe) within `ic_roles_within_minutes` (FIRST 15 MINUTES), counted from detection. When a
window ends unmet, a reminder (the declarer about the IC; the IC, else the declarer, about the
roles); when it is still unmet the same time again later, an escalation to the owning team's
manager. Assigning the role re-plans, which cancels what is left; the firer checks again."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..escalation import Planned, Recipients
from ..models import Deadline, Incident
from ..selectors import incident_active_roles, policy_for, policy_settings
from ..states import SINGLE_HOLDER_ROLES, Role, Status, TimelineKind
from .common import declarer_or_on_call, escalation_manager, fired_with_pages, ic_or_declarer

KIND = "roles"
STEPS = ("remind", "escalate")  # at the window's end, and the window's length again later


def missing_roles(incident: Incident) -> tuple[bool, list[str]]:
    """(no IC although the severity wants one, the other roles it wants that nobody holds)."""
    required = [r for r in policy_for(incident.severity).roles_required if r in SINGLE_HOLDER_ROLES]
    held = {a.role for a in incident_active_roles(incident)}
    ic_missing = Role.INCIDENT_COMMANDER in required and Role.INCIDENT_COMMANDER not in held
    others = [r for r in required if r != Role.INCIDENT_COMMANDER and r not in held]
    return ic_missing, others


def _names(roles: list[str]) -> str:
    labels = [Role(r).label for r in roles]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def plan(incident: Incident, now: datetime) -> dict[str, Planned]:
    if incident.status == Status.RESOLVED:
        return {}
    ic_missing, others = missing_roles(incident)
    settings = policy_settings()
    wanted = []
    if ic_missing:
        wanted.append(("ic", settings.ic_first_minutes, "Incident Commander"))
    if others:
        wanted.append(("assign", settings.ic_roles_within_minutes, _names(others)))
    planned = {}
    for what, minutes, names in wanted:
        for index, step in enumerate(STEPS, start=1):
            label = f"{names} to be assigned (Appendix A: first {minutes} minutes): " + (
                "reminder" if step == "remind" else "escalation to the manager"
            )
            planned[f"{KIND}:{what}:{step}"] = Planned(
                KIND,
                incident.detected_at + timedelta(minutes=minutes * index),
                # A reminder and its escalation are one chain: planned already past (declared
                # late), only the escalation fires (services.timers._catch_up).
                {"what": what, "step": step, "minutes": minutes, "label": label, "chain": what},
            )
    return planned


def fire(deadline: Deadline, incident: Incident, recipients: Recipients, at: datetime):
    """Remind, or escalate to the manager; None (cancelled) once the roles are held."""
    if incident.status == Status.RESOLVED:
        return None
    ic_missing, others = missing_roles(incident)
    data = deadline.data
    minutes, step = data["minutes"], data["step"]
    if data["what"] == "ic":
        if not ic_missing:
            return None
        subject, missing = "No Incident Commander", [str(Role.INCIDENT_COMMANDER)]
    else:
        if not others:
            return None
        subject, missing = f"{_names(others)} not assigned", others
    after = minutes * (STEPS.index(step) + 1)
    what = f"{subject} {after} min after detection (Appendix A: first {minutes} minutes)"
    if step == "remind":
        kind = TimelineKind.ROLES_REMINDER
        find = declarer_or_on_call if data["what"] == "ic" else ic_or_declarer
        people, note = find(incident, recipients)
    else:
        kind = TimelineKind.ROLES_ESCALATED
        what += ": escalated to the manager"
        people, note = escalation_manager(incident, recipients)
    return fired_with_pages(
        deadline,
        incident,
        at,
        timeline_kind=kind,
        what=what,
        people=people,
        note=note,
        data={"what": data["what"], "step": step, "missing": missing, "minutes": minutes},
    )
