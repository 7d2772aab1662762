"""API tokens: created on sign-in, listed and revoked by their owner, revoked all at once when
the owner's password changes or they are deactivated. Each change is audited."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ..models import ApiToken, User
from ..models.accounts import token_digest
from ..permissions import require_may_revoke_token_of
from ..states import AuditAction
from .audit import audit_record

PREFIX_LENGTH = 8


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`; the secret is returned once and never stored."""
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            digest=token_digest(secret),
            created_at=now,
            expires_at=now + timedelta(days=settings.TENSAFE_API_TOKEN_DAYS),
        )
        audit_record(
            AuditAction.TOKEN_CREATED,
            actor=user,
            target_user=user,
            target=token,
            details={"token_id": token.pk, "prefix": token.prefix, "name": name},
        )
    return token, secret


def api_token_revoke(*, actor: User, token_id: int, reason: str = "revoked by owner") -> ApiToken:
    """Revoke one of `actor`'s own tokens; anyone else's is a 404, as if it did not exist."""
    return _token_revoke(actor, ApiToken.objects.filter(user=actor), token_id, reason)


def api_token_revoke_for(
    *, actor: User, token_id: int, reason: str = "revoked by an SRE lead"
) -> ApiToken:
    """Revoke anyone's token (the admin's list of tokens): an SRE lead's act, audited like the
    owner's; a superuser's token only by a superuser (permissions.require_may_revoke_token_of).
    A token already revoked stays as it was, with no second audit row."""
    return _token_revoke(
        actor, ApiToken.objects.all(), token_id, reason, check=require_may_revoke_token_of
    )


def _token_revoke(actor: User, tokens, token_id: int, reason: str, check=None) -> ApiToken:
    """Revoke the token `token_id` among `tokens` (Http404 if it is not one of them), once:
    locked, `check(actor, owner)` asked, stamped with the time and reason, and audited in the
    same transaction."""
    with transaction.atomic():
        token = (
            tokens.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=token_id)
            .first()
        )
        if token is None:
            raise Http404("No such token.")
        if check is not None:
            check(actor, token.user)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.revoked_reason = reason
            token.save(update_fields=["revoked_at", "revoked_reason"])
            audit_record(
                AuditAction.TOKEN_REVOKED,
                actor=actor,
                target_user=token.user,
                target=token,
                details={"token_ids": [token.pk], "reason": reason},
            )
    return token


def api_tokens_revoke_all(*, user: User, reason: str) -> int:
    """Revoke every live token of `user` (password changed, deactivated): one audit row."""
    with transaction.atomic():
        live = ApiToken.objects.select_for_update().filter(user=user, revoked_at=None)
        ids = sorted(live.values_list("pk", flat=True))
        if not ids:
            return 0
        ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now(), revoked_reason=reason)
        audit_record(
            AuditAction.TOKEN_REVOKED,
            target_user=user,
            details={"token_ids": ids, "reason": reason},
        )
    return len(ids)
