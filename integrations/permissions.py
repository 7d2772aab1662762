"""Who may do what with integrations: the one module that decides it (docs/architecture.md,
"Conventions"). Alert senders are not users: they prove themselves with their integration's
secret (integrations/views.py)."""

from django.core.exceptions import PermissionDenied

from incidents.permissions import is_sre_lead, may_grant_restricted


def may_manage_integrations(user) -> bool:
    """Integrations and outgoing webhooks (their secrets and where incidents are sent): SRE
    leads."""
    return is_sre_lead(user)


def require_may_manage_integrations(user) -> None:
    if not may_manage_integrations(user):
        raise PermissionDenied("Only SRE leads may do this.")


def require_may_set_declares_security(actor, was: bool, now: bool) -> None:
    """An integration that stops declaring security incidents makes the incidents it opens
    from then on visible to everyone: like letting a webhook receive restricted incidents,
    that takes the security lead or a superuser. Turning it on restricts, so SRE leads may."""
    if was and not now and not may_grant_restricted(actor):
        raise PermissionDenied(
            "Only the security lead or a superuser may stop an integration declaring security "
            "incidents (the incidents it opens would be visible to everyone)."
        )
