"""The one writer of the audit log (docs/architecture.md, Conventions): every change of users,
groups, passwords, tokens and grants calls `audit_record` inside the transaction that makes the
change."""

from __future__ import annotations

from ..audit import UNSET, acting_address, acting_user
from ..models import AuditEvent, User


def audit_record(
    action: str,
    *,
    target_user: User | None = None,
    target=None,
    details: dict | None = None,
    actor=UNSET,
    target_repr: str | None = None,
) -> AuditEvent:
    """Record `action`. The actor is the one given, else whoever the current request or
    service acts for (incidents.audit); `target` is any other model instance changed, named
    by `target_repr` when its own name must not be in the log (a restricted incident's
    title)."""
    if actor is UNSET:
        actor = acting_user()
    row = AuditEvent(
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        action=action,
        target_user=target_user,
        details=details or {},
        remote_addr=acting_address(),
    )
    if target is not None:
        row.target_type = target._meta.label_lower
        row.target_id = str(target.pk)
        row.target_repr = (str(target) if target_repr is None else target_repr)[:200]
    elif target_user is not None:
        row.target_type = target_user._meta.label_lower
        row.target_id = str(target_user.pk)
        row.target_repr = target_user.get_username()
    row.save()
    return row
