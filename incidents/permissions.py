"""Who may do what in the core: the one module that decides it (docs/architecture.md,
"Conventions"; each app built on the core has its own `permissions.py`). Services call these
before they write; views, admin and selectors ask them; nothing else decides."""

from django.core.exceptions import PermissionDenied

from .states import GroupName, Rank, Role

WRITER_GROUPS = frozenset(
    {GroupName.RESPONDER, GroupName.INCIDENT_COMMANDER, GroupName.SRE_LEAD, GroupName.SECURITY}
)
# "IC declares resolved" (3.1, 7.4): the incident's Incident Commander alone resolves. An SRE
# lead who must resolve takes the IC role first (audited), like anyone else.
IC_ONLY_TRANSITIONS = frozenset({"resolve"})
# Undoing a resolution: the IC, or an SRE lead.
IC_OR_SRE_LEAD_TRANSITIONS = frozenset({"reopen"})


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


def require_may_revoke_token_of(actor, owner) -> None:
    """An API token is revoked by its owner or an SRE lead; a superuser's only by a superuser
    (as only a superuser changes a superuser in the admin)."""
    if actor.pk == owner.pk:
        return
    require_sre_lead(actor)
    if owner.is_superuser and not actor.is_superuser:
        raise PermissionDenied("Only a superuser may revoke a superuser's API token.")


def can_transition(user, transition_name: str, ic_user_id: int | None) -> bool:
    if transition_name in IC_ONLY_TRANSITIONS:
        # A person, and the one in command: the platform (timers, integrations) never resolves.
        return user is not None and is_writer(user) and user.pk == ic_user_id
    if user is None:  # the platform itself (timers, integrations)
        return True
    if not is_writer(user):
        return False
    if transition_name in IC_OR_SRE_LEAD_TRANSITIONS:
        return is_sre_lead(user) or user.pk == ic_user_id
    return True


# --- who may grant access to restricted (security) incidents ----------------------------------
def may_grant_restricted(user) -> bool:
    """Superusers and the security lead (rank) decide who reaches restricted incidents: they
    alone grant the security group or the security_lead rank, reset a security member's
    password, or let a webhook receive restricted incidents. `None` is the platform itself
    (management commands, the demo seed)."""
    return user is None or user.is_superuser or user.rank == Rank.SECURITY_LEAD


def is_security_member(user) -> bool:
    return (
        user.is_superuser
        or user.rank == Rank.SECURITY_LEAD
        or GroupName.SECURITY in (user.group_names if user.pk else ())
    )


def require_may_grant_security(actor) -> None:
    if not may_grant_restricted(actor):
        raise PermissionDenied(
            "Only the security lead or a superuser may grant the security group."
        )


def require_may_set_rank(actor, old_rank: str | None, new_rank: str) -> None:
    changes_lead = Rank.SECURITY_LEAD in (old_rank, new_rank) and old_rank != new_rank
    if changes_lead and not may_grant_restricted(actor):
        raise PermissionDenied(
            "Only the security lead or a superuser may give or take the security_lead rank."
        )


def require_may_set_password(actor, target) -> None:
    """Anyone may change their own password; a security member's is reset only by the
    security lead or a superuser (it would open their restricted incidents)."""
    if actor is None or actor.pk == target.pk:
        return
    if is_security_member(target) and not may_grant_restricted(actor):
        raise PermissionDenied(
            "Only the security lead or a superuser may reset a security member's password."
        )


def require_may_allow_restricted(actor) -> None:
    if not may_grant_restricted(actor):
        raise PermissionDenied(
            "Only the security lead or a superuser may let a webhook receive restricted "
            "incidents (allow_restricted)."
        )


# --- security incidents after declaration (procedures 2.1, 5.1) ----------------------------------
def may_make_security_incident(user, ic_user_id: int | None) -> bool:
    """Making an incident a security incident (restricted): its IC, an SRE lead or the
    security group (superusers and the security lead included); None is the platform (a
    security tool's alert)."""
    if user is None:
        return True
    return (
        is_sre_lead(user) or is_security_member(user) or (is_writer(user) and user.pk == ic_user_id)
    )


def may_end_security_incident(user) -> bool:
    """Making a security incident an ordinary one again opens it to everyone: the security
    group or an SRE lead only."""
    return user is None or is_sre_lead(user) or is_security_member(user)


def require_may_set_security(user, security: bool, ic_user_id: int | None) -> None:
    if security and not may_make_security_incident(user, ic_user_id):
        raise PermissionDenied(
            "Only the incident's Incident Commander, an SRE lead or the security group may make "
            "it a security incident."
        )
    if not security and not may_end_security_incident(user):
        raise PermissionDenied(
            "Only the security group or an SRE lead may make a security incident an ordinary "
            "one again (it opens it to everyone)."
        )


def may_approve_public_text(user) -> bool:
    """A security incident's public title and text (what the status page and customer email
    may say) are set and approved by the security group: its members, the security lead and
    superusers. Never the platform on its own."""
    return user is not None and user.is_authenticated and is_security_member(user)


def require_may_approve_public_text(user) -> None:
    if not may_approve_public_text(user):
        raise PermissionDenied(
            "Only the security group (or the security lead) may set and approve a security "
            "incident's public title and text."
        )


def require_can_transition(user, transition_name: str, ic_user_id: int | None) -> None:
    if can_transition(user, transition_name, ic_user_id):
        return
    if transition_name in IC_ONLY_TRANSITIONS:
        if user is None:
            raise PermissionDenied(
                "Only the incident's Incident Commander declares it resolved (procedures 3.1, "
                "7.4); the platform never resolves an incident."
            )
        require_writer(user)
        raise PermissionDenied(RESOLVE_REFUSED + (SRE_LEAD_TAKES_IC if is_sre_lead(user) else ""))
    if transition_name in IC_OR_SRE_LEAD_TRANSITIONS and is_writer(user):
        raise PermissionDenied(
            "Only the incident's Incident Commander (or an SRE lead) may "
            f"{transition_name} it (procedures 7.4: IC declares resolved)."
        )
    require_writer(user)


RESOLVE_REFUSED = (
    "Only the incident's Incident Commander may resolve it (procedures 3.1, 7.4: the IC "
    "declares resolved)."
)
SRE_LEAD_TAKES_IC = " As an SRE lead, take the Incident Commander role first (audited)."


def resolve_refusal_for(user) -> str:
    """Why `user` may not resolve an incident they do not command, as the pages say it."""
    return RESOLVE_REFUSED + (SRE_LEAD_TAKES_IC if user is not None and is_sre_lead(user) else "")


def _is_ic_or_sre_lead(user, ic_user_id: int | None) -> bool:
    """The incident's IC or an SRE lead (superusers included); the platform itself too."""
    if user is None:
        return True
    return is_writer(user) and (is_sre_lead(user) or user.pk == ic_user_id)


def can_change_severity(user, ic_user_id: int | None) -> bool:
    return _is_ic_or_sre_lead(user, ic_user_id)


def require_can_change_severity(user, ic_user_id: int | None) -> None:
    if not can_change_severity(user, ic_user_id):
        raise PermissionDenied(
            "Only the incident's Incident Commander or an SRE lead may change its severity."
        )


def can_request_bridge(user, ic_user_id: int | None) -> bool:
    """6.1: P3/P4 get a bridge "unless the IC asks": the incident's IC, or an SRE lead."""
    return _is_ic_or_sre_lead(user, ic_user_id)


def require_can_request_bridge(user, ic_user_id: int | None) -> None:
    if not can_request_bridge(user, ic_user_id):
        raise PermissionDenied(
            "Only the incident's Incident Commander (or an SRE lead) may ask for a bridge "
            "(6.1: P3/P4 get one when the IC asks)."
        )


def require_may_acknowledge(user, *, awaited: bool) -> None:
    """Responders acknowledge; so does an escalation contact paged about the incident (5.3),
    whatever their group: the page asked them to answer, as its link lets them."""
    if not awaited:
        require_writer(user)


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


# --- who may hold incident roles (procedures 3) -------------------------------------------------
def may_hold_incident_roles(user) -> bool:
    """People in the viewer group read incidents; they never hold a role on one (any role,
    the Scribe's included), whatever other group they are in."""
    return GroupName.VIEWER not in user.group_names


def can_override_on_call(actor) -> bool:
    """Giving a role to someone who is not on call, where the procedures say "On-call
    engineer" (3.1, 3.3), is an SRE lead's call, with a reason (audited)."""
    return actor is None or is_sre_lead(actor)


def require_can_override_on_call(actor) -> None:
    if not can_override_on_call(actor):
        raise PermissionDenied(
            "Only SRE leads may override the on-call rule (procedures 3.1, 3.3) when "
            "assigning a role."
        )


def sre_lead_takes_command(actor, role: str, user) -> bool:
    """An SRE lead making themself Incident Commander: how they come to resolve an incident
    (3.1, 7.4), so the taking is audited."""
    return (
        actor is not None
        and role == Role.INCIDENT_COMMANDER
        and actor.pk == user.pk
        and is_sre_lead(actor)
    )


# --- paging, contact methods ------------------------------------------------------------------
# Paging a person does not grant access to a restricted incident (docs/architecture.md).
RESTRICTED_ACK_REFUSED = (
    "This is a restricted security incident and you do not have access to it: being paged "
    "does not grant access. Ask the security group to add you."
)


def require_may_acknowledge_by_link(incident, user) -> None:
    """A page's acknowledge link acts for the person paged, only if they may see the incident."""
    from .redaction import message_withheld  # redaction asks these rules too

    if message_withheld(incident, user):
        raise PermissionDenied(RESTRICTED_ACK_REFUSED)


def may_manage_contact_methods_of(actor, owner_id: int) -> bool:
    """One's own contact methods, or anyone's for an SRE lead (None: the system)."""
    return actor is None or actor.pk == owner_id or is_sre_lead(actor)


def require_may_manage_contact_methods_of(actor, owner_id: int) -> None:
    if not may_manage_contact_methods_of(actor, owner_id):
        raise PermissionDenied("Only SRE leads manage other people's contact methods.")


def may_see_contact_target(viewer, owner_id: int | None) -> bool:
    """A contact target in full: its owner and SRE leads (superusers included)."""
    if viewer is None or not viewer.is_authenticated:
        return False
    return viewer.pk == owner_id or is_sre_lead(viewer)
