"""Who may do what with integrations: the one module that decides it (docs/architecture.md,
"Conventions"). Alert senders are not users: they prove themselves with their integration's
secret (integrations/views.py)."""

from django.core.exceptions import PermissionDenied

from incidents.permissions import is_sre_lead


def may_manage_integrations(user) -> bool:
    """Integrations and outgoing webhooks (their secrets and where incidents are sent): SRE
    leads."""
    return is_sre_lead(user)


def require_may_manage_integrations(user) -> None:
    if not may_manage_integrations(user):
        raise PermissionDenied("Only SRE leads may do this.")
