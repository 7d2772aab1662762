"""What a change of a user means for the audit log and their tokens. Called by the model
hooks of incidents/audit.py (inside `User.save`'s transaction), whatever door the change
came through: services, admin forms, management commands."""

from __future__ import annotations

from ..audit import AUDITED_USER_FIELDS, acting_user
from ..models import User
from ..states import AuditAction
from .audit import audit_record
from .tokens import api_tokens_revoke_all


def _jsonable(value):
    return value if value is None or isinstance(value, (bool, int, str)) else str(value)


def user_saved_record(user: User, before: dict | None) -> None:
    """Audit a saved user against the row as it was (`before`; None when just created). A
    changed password or a deactivation revokes all of the user's API tokens."""
    actor = acting_user()
    if before is None:
        audit_record(
            AuditAction.USER_CREATED,
            actor=actor,
            target_user=user,
            details={
                "rank": user.rank,
                "team_id": user.team_id,
                "is_staff": user.is_staff,
                "is_superuser": user.is_superuser,
                "is_active": user.is_active,
                "password_set": user.has_usable_password(),
            },
        )
        return
    after = {name: getattr(user, name) for name in AUDITED_USER_FIELDS}
    changes = {
        name: {"old": _jsonable(before[name]), "new": _jsonable(after[name])}
        for name in AUDITED_USER_FIELDS
        if name != "is_active" and before[name] != after[name]
    }
    if changes:
        audit_record(AuditAction.USER_CHANGED, actor=actor, target_user=user, details=changes)
    if before["is_active"] != user.is_active:
        action = AuditAction.USER_ACTIVATED if user.is_active else AuditAction.USER_DEACTIVATED
        audit_record(action, actor=actor, target_user=user)
        if not user.is_active:
            api_tokens_revoke_all(user=user, reason="user deactivated")
    if before["password"] != user.password:
        own = actor is not None and actor.pk == user.pk
        audit_record(
            AuditAction.PASSWORD_CHANGED if own else AuditAction.PASSWORD_RESET,
            actor=actor,
            target_user=user,
            details={"usable": user.has_usable_password()},
        )
        api_tokens_revoke_all(user=user, reason="password changed")


def user_groups_record(pairs: list[tuple[User, str]], *, added: bool) -> None:
    """One audit row per (user, group name) membership added or removed."""
    action = AuditAction.GROUP_ADDED if added else AuditAction.GROUP_REMOVED
    for user, group in pairs:
        audit_record(action, target_user=user, details={"group": group})
