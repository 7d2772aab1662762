from __future__ import annotations

from django.core.exceptions import PermissionDenied

from incidents.errors import DomainError, RuleViolation


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def domain_error_text(exc: Exception) -> str:
    """What the page says when a service refuses: its detail, naming the rule it quotes."""
    if isinstance(exc, RuleViolation):
        rule = exc.extra.get("rule")
        return f"{exc.detail} (rule: {rule})" if rule and rule not in exc.detail else exc.detail
    if isinstance(exc, DomainError):
        return exc.detail
    if isinstance(exc, PermissionDenied):
        return str(exc) or "You may not do this."
    return str(exc)


def attach_error(form, exc: Exception) -> None:
    """Put a service's refusal next to the field it names (else at the top of the form)."""
    field = getattr(exc, "extra", {}).get("field")
    aliases = {"user": "username"}
    field = aliases.get(field, field)
    form.add_error(field if field in form.fields else None, domain_error_text(exc))


def status_for(exc: Exception) -> int:
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, DomainError) and not isinstance(exc, RuleViolation):
        return 409
    return 400
