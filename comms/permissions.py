"""Who may do what in comms: the one module that decides it (docs/architecture.md,
"Conventions"). The services, the chat commands, the dashboard and admin ask here."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from incidents.models import Incident
from incidents.permissions import is_sre_lead, is_writer
from incidents.selectors import incident_active_roles
from incidents.states import Role


def may_post_publicly(user, incident: Incident) -> bool:
    """The status page and customer email: the incident's IC or Comms Lead, or an SRE lead
    (None: the system)."""
    if user is None or is_sre_lead(user):
        return True
    holders = {
        a.user_id
        for a in incident_active_roles(incident)
        if a.role in (Role.INCIDENT_COMMANDER, Role.COMMS_LEAD)
    }
    return user.pk in holders


def require_may_post_publicly(user, incident: Incident, channel_label: str) -> None:
    if not may_post_publicly(user, incident):
        raise PermissionDenied(
            f"Only the incident's Incident Commander or Communications Lead (or an SRE lead) "
            f"may post to the {channel_label} (procedures 3.3: the "
            "Communications Lead owns customer communications and status page updates)."
        )


def require_may_declare_from_chat(user) -> None:
    if not is_writer(user):
        raise PermissionDenied("Viewers cannot declare incidents; ask an SRE lead for access.")


def may_unlink_any_chat_identity(actor, via: str) -> bool:
    """Anyone's chat link, from the admin, for those who may delete chat identities there;
    everywhere else only one's own."""
    return via == "admin" and actor.has_perm("comms.delete_chatidentity")
