"""Who may change what. Services call these before they write; views never decide."""

from django.core.exceptions import PermissionDenied

from .states import GroupName

WRITER_GROUPS = frozenset(
    {GroupName.RESPONDER, GroupName.INCIDENT_COMMANDER, GroupName.SRE_LEAD, GroupName.SECURITY}
)
# Transitions that the procedures give to the IC alone: "IC declares resolved" (7.4), and
# undoing it.
IC_ONLY_TRANSITIONS = frozenset({"resolve", "reopen"})


def is_sre_lead(user) -> bool:
    return user.is_superuser or GroupName.SRE_LEAD in user.group_names


def is_writer(user) -> bool:
    return user.is_superuser or bool(WRITER_GROUPS & user.group_names)


def require_writer(user) -> None:
    if not is_writer(user):
        raise PermissionDenied(
            "Viewers cannot change incidents; ask an SRE lead for the responder group."
        )


def require_sre_lead(user) -> None:
    if not is_sre_lead(user):
        raise PermissionDenied("Only SRE leads may do this.")


def can_transition(user, transition_name: str, ic_user_id: int | None) -> bool:
    if user is None:  # the platform itself (timers, integrations)
        return True
    if not is_writer(user):
        return False
    if transition_name in IC_ONLY_TRANSITIONS:
        return is_sre_lead(user) or user.pk == ic_user_id
    return True


def require_can_transition(user, transition_name: str, ic_user_id: int | None) -> None:
    if not can_transition(user, transition_name, ic_user_id):
        if transition_name in IC_ONLY_TRANSITIONS and is_writer(user):
            raise PermissionDenied(
                "Only the incident's Incident Commander (or an SRE lead) may "
                f"{transition_name} it (procedures 7.4: IC declares resolved)."
            )
        require_writer(user)


def can_change_severity(user, ic_user_id: int | None) -> bool:
    """The incident's IC or an SRE lead (superusers included); the platform itself too."""
    if user is None:
        return True
    return is_writer(user) and (is_sre_lead(user) or user.pk == ic_user_id)


def require_can_change_severity(user, ic_user_id: int | None) -> None:
    if not can_change_severity(user, ic_user_id):
        raise PermissionDenied(
            "Only the incident's Incident Commander or an SRE lead may change its severity."
        )


def require_can_assign(user, replacing_ic: bool, ic_user_id: int | None) -> None:
    """Anyone who may write assigns roles; replacing a sitting IC takes the IC themself, an
    incident commander or an SRE lead."""
    if user is None:
        return
    require_writer(user)
    if replacing_ic and not (
        is_sre_lead(user)
        or GroupName.INCIDENT_COMMANDER in user.group_names
        or user.pk == ic_user_id
    ):
        raise PermissionDenied(
            "Replacing the Incident Commander takes the IC, an incident commander or an SRE lead."
        )
