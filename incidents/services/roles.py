from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..errors import RuleViolation
from ..models import RoleAssignment
from ..oncall import oncall_now
from ..permissions import (
    require_can_assign,
    require_can_override_on_call,
    sre_lead_takes_command,
)
from ..rules import check_role_rules, tech_lead_warning
from ..selectors import incident_active_roles, incident_get_for_user, policy_for
from ..states import AuditAction, Role, TimelineKind
from .audit import audit_record
from .incidents import acknowledgement_record
from .timeline import checklist_auto_tick, timeline_record
from .timers import deadlines_replan


def incident_assign_role(
    *,
    actor,
    incident_id,
    role: str,
    user,
    at: datetime | None = None,
    override: bool = False,
    override_reason: str = "",
) -> RoleAssignment:
    """Give `user` an incident role (procedures 3). A single-holder role passes from its
    current holder, who is relieved in the same transaction; the rules of 3.1-3.4 are checked
    first and a violation changes nothing.

    1. Where the procedures say "On-call engineer" (3.1, 3.3), the person must be on call at
       `at` (the owning teams' rotations first, incidents.oncall.oncall_now), unless an SRE
       lead overrides with a reason: the override is audited and on the timeline.
    2. An SRE lead making themself IC is audited: it is how they come to resolve (7.4).
    3. Taking the IC role acknowledges the incident if nobody had (4.2, Appendix A): the
       acknowledgement is the new IC's, on the timeline as such.
    4. A Technical Lead who does not meet 3.2 is assigned with a warning (role_warnings)."""
    if role not in Role.values:
        raise RuleViolation(
            f"role must be one of {', '.join(Role.values)}.", rule="role", field="role"
        )
    override_reason = _override_reason(override, override_reason)
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
        if override:
            require_can_override_on_call(actor)
        if same is not None:
            return same
        overridden = _check_rules(incident, role, user, active, at, override)
        if overridden is not None:
            overridden["reason"] = override_reason
        if current is not None:
            current.relieved_at, current.relieved_by = at, actor
            current.save(update_fields=["relieved_at", "relieved_by"])
        assignment = RoleAssignment.objects.create(
            incident=incident, role=role, user=user, assigned_at=at, assigned_by=actor
        )
        _audit_sre_lead_powers(incident, assignment, current, actor, overridden)
        _record_assignment(incident, assignment, current, actor, at, overridden)
        if role == Role.INCIDENT_COMMANDER and incident.acknowledged_at is None:
            via = (
                "took the Incident Commander role"
                if actor is not None and actor.pk == user.pk
                else f"made Incident Commander by {actor.username if actor else 'the platform'}"
            )
            acknowledgement_record(incident, actor, at, via, by=user, replan=False)
        # Once, after the acknowledgement's ticks: the first minutes' deadlines (4.2, App. A).
        deadlines_replan(incident, now=at)
    return assignment


def _override_reason(override: bool, reason: str) -> str:
    """An override of the on-call rule says why; a reason comes only with an override."""
    reason = (reason or "").strip()
    if override and not reason:
        raise RuleViolation(
            "override_reason is required to override the on-call rule: say why this person "
            "takes the role although they are not on call (it is audited).",
            rule="an on-call override needs a reason",
            field="override_reason",
        )
    if reason and not override:
        raise RuleViolation(
            "override_reason is given without override: set override to true to assign over "
            "the on-call rule, or leave the reason out.",
            rule="override_reason only with override",
            field="override",
        )
    return reason


def _audit_sre_lead_powers(incident, assignment, current, actor, overridden) -> None:
    """Every change of who may do what is audited (docs/architecture.md, Conventions): a role
    given over the on-call rule, and an SRE lead taking command (so they may resolve)."""
    details = {
        "incident": incident.reference,
        "role": assignment.role,
        "previous": current.user.username if current else None,
    }
    if overridden is not None:
        audit_record(
            AuditAction.ROLE_ON_CALL_OVERRIDE,
            target_user=assignment.user,
            target=incident,
            details={**details, **overridden},
            actor=actor,
        )
    if sre_lead_takes_command(actor, assignment.role, assignment.user):
        audit_record(
            AuditAction.ROLE_IC_TAKEN,
            target_user=assignment.user,
            target=incident,
            details=details,
            actor=actor,
        )


def _check_rules(incident, role, user, active, at, override: bool) -> dict | None:
    """The rules of 3.1-3.4; returns what an SRE lead's override let through, or None."""
    policy = policy_for(incident.severity)
    asks_on_call = {
        Role.INCIDENT_COMMANDER: policy.ic_on_call,
        Role.COMMS_LEAD: policy.comms_lead_on_call,
    }
    on_call = None
    if asks_on_call.get(role):
        on_call = oncall_now(set(incident.services.values_list("team_id", flat=True)), at)
    try:
        check_role_rules(incident, role, user, active, policy, on_call=on_call)
    except RuleViolation as violation:
        if not override:
            raise
        # Raises again unless the on-call rule was all that stood in the way.
        check_role_rules(
            incident, role, user, active, policy, on_call=on_call, on_call_overridden=True
        )
        return {"rule": violation.extra["rule"], "refused": violation.detail}
    return None


def _record_assignment(incident, assignment, current, actor, at, overridden) -> None:
    role, user = assignment.role, assignment.user
    ticked = (
        checklist_auto_tick(incident, "ic_assigned", actor=actor, at=at)
        if role == Role.INCIDENT_COMMANDER
        else []
    )
    label = Role(role).label
    text = f"{label}: {user.username}"
    if current is not None:
        text = f"{label}: {current.user.username} → {user.username}"
    data = {
        "role": role,
        "user": user.username,
        "previous": current.user.username if current else None,
        "ticked": ticked,
    }
    if overridden is not None:
        who = actor.username if actor else "the platform"
        text += f" (on-call rule overridden by {who}: {overridden['reason']})"
        data["override"] = {"by": who, "rule": overridden["rule"], "reason": overridden["reason"]}
    if role == Role.TECH_LEAD:
        warning = tech_lead_warning(incident, user)
        if warning:
            text += f". Warning: {warning}"
            data["warning"] = warning
    timeline_record(
        incident, TimelineKind.ROLE_ASSIGNED, text, actor=actor, occurred_at=at, data=data
    )


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
