from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..errors import RuleViolation
from ..models import RoleAssignment
from ..permissions import require_can_assign
from ..rules import check_role_rules
from ..selectors import incident_active_roles, incident_get_for_user, policy_for
from ..states import Role, TimelineKind
from .timeline import checklist_auto_tick, timeline_record
from .timers import deadlines_replan


def incident_assign_role(
    *, actor, incident_id, role: str, user, at: datetime | None = None
) -> RoleAssignment:
    """Give `user` an incident role (procedures 3). A single-holder role passes from its
    current holder, who is relieved in the same transaction; the rules of 3.1-3.4 are checked
    first and a violation changes nothing."""
    if role not in Role.values:
        raise RuleViolation(
            f"role must be one of {', '.join(Role.values)}.", rule="role", field="role"
        )
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        at = at or timezone.now()
        active = incident_active_roles(incident)
        current = next((a for a in active if a.role == role and role != Role.SME), None)
        same = next((a for a in active if a.role == role and a.user_id == user.pk), None)
        ic = next((a for a in active if a.role == Role.INCIDENT_COMMANDER), None)
        require_can_assign(
            actor,
            replacing_ic=role == Role.INCIDENT_COMMANDER and current is not None,
            ic_user_id=ic.user_id if ic else None,
        )
        if same is not None:
            return same
        check_role_rules(incident, role, user, active, policy_for(incident.severity))
        if current is not None:
            current.relieved_at, current.relieved_by = at, actor
            current.save(update_fields=["relieved_at", "relieved_by"])
        assignment = RoleAssignment.objects.create(
            incident=incident, role=role, user=user, assigned_at=at, assigned_by=actor
        )
        ticked = (
            checklist_auto_tick(incident, "ic_assigned", actor=actor, at=at)
            if role == Role.INCIDENT_COMMANDER
            else []
        )
        deadlines_replan(incident, now=at)  # the first minutes' deadlines (4.2, App. A)
        label = Role(role).label
        text = f"{label}: {user.username}"
        if current is not None:
            text = f"{label}: {current.user.username} → {user.username}"
        timeline_record(
            incident,
            TimelineKind.ROLE_ASSIGNED,
            text,
            actor=actor,
            occurred_at=at,
            data={
                "role": role,
                "user": user.username,
                "previous": current.user.username if current else None,
                "ticked": ticked,
            },
        )
    return assignment


def incident_relieve_role(
    *, actor, incident_id, role: str, user, at: datetime | None = None
) -> RoleAssignment:
    """Relieve `user` of an incident role; the assignment stays in the history."""
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        at = at or timezone.now()
        active = incident_active_roles(incident)
        assignment = next((a for a in active if a.role == role and a.user_id == user.pk), None)
        if assignment is None:
            raise RuleViolation(
                f"{user.username} does not hold the {role} role on this incident.",
                rule="role held",
                field="username",
            )
        ic = next((a for a in active if a.role == Role.INCIDENT_COMMANDER), None)
        require_can_assign(
            actor,
            replacing_ic=role == Role.INCIDENT_COMMANDER,
            ic_user_id=ic.user_id if ic else None,
        )
        assignment.relieved_at, assignment.relieved_by = at, actor
        assignment.save(update_fields=["relieved_at", "relieved_by"])
        deadlines_replan(incident, now=at)
        timeline_record(
            incident,
            TimelineKind.ROLE_RELIEVED,
            f"{Role(role).label}: {user.username} relieved",
            actor=actor,
            occurred_at=at,
            data={"role": role, "user": user.username},
        )
    return assignment
