"""Linking Slack users to people (chat commands, procedures 9.3).

A Slack user acts as a TenSafe IR user only through a `ChatIdentity` that person made: an
unlinked Slack user's command is answered a one-time link (`chat_link_start`); the person
opens it signed in, sees which Slack user in which workspace will act as them, and confirms
(`chat_link_confirm`). They see and remove their links on their account page
(`chat_identity_unlink`). Every link and unlink is audited by `chat_identity_audit`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from incidents.services.audit import audit_record

from ..models import ChatIdentity, ChatLinkToken
from ..permissions import may_unlink_any_chat_identity

KEEP_SPENT_TOKENS = timedelta(days=1)  # so an old link says "expired", not "not valid"


class ChatLinkError(Exception):
    """A link that cannot be used (forged, expired, used, or for a Slack user linked to
    someone else). `status` is the HTTP status of the page that says so; nothing changed."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def chat_identity_audit(action: str, *, actor, identity: ChatIdentity, via: str) -> None:
    """The audit row of a change of who a Slack user acts as (who, when, what), written in the
    caller's transaction like every other change of who may do what."""
    audit_record(
        f"chat_identity.{action}",
        actor=actor,
        target_user=identity.user,
        details={
            "slack_team_id": identity.slack_team_id,
            "slack_user_id": identity.slack_user_id,
            "slack_name": identity.slack_name,
            "via": via,
        },
    )


def chat_link_start(*, team_id: str, team_domain: str, user_id: str, name: str) -> str:
    """A one-time link for an unlinked Slack user, valid TENSAFE_CHAT_LINK_MINUTES; returns
    its URL. Only the token's hash is stored; links spent or expired for a day are dropped."""
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        ChatLinkToken.objects.filter(expires_at__lt=now - KEEP_SPENT_TOKENS).delete()
        ChatLinkToken.objects.create(
            token_hash=_token_hash(token),
            slack_team_id=team_id[:32],
            slack_team_domain=team_domain[:255],
            slack_user_id=user_id[:32],
            slack_name=name[:255],
            created_at=now,
            expires_at=now + timedelta(minutes=settings.TENSAFE_CHAT_LINK_MINUTES),
        )
    return settings.PUBLIC_BASE_URL + reverse("chat-link", args=[token])


def chat_link_get(token: str, *, user) -> ChatLinkToken:
    """The link behind `token`, if `user` may still complete it; else ChatLinkError."""
    link = ChatLinkToken.objects.filter(token_hash=_token_hash(token)).first()
    if link is None:
        raise ChatLinkError(
            "This link is not valid. Run any command in Slack again for a new one.", 404
        )
    if link.used_at is not None:
        raise ChatLinkError(
            "This link has already been used. Run any command in Slack again for a new one.",
            410,
        )
    if link.expires_at <= timezone.now():
        raise ChatLinkError(
            f"This link has expired (links are valid for {settings.TENSAFE_CHAT_LINK_MINUTES} "
            "minutes). Run any command in Slack again for a new one.",
            410,
        )
    linked = ChatIdentity.objects.filter(
        slack_team_id=link.slack_team_id, slack_user_id=link.slack_user_id
    ).first()
    if linked is not None and linked.user_id != user.pk:
        raise ChatLinkError(
            f"Slack user {link.slack_user_id} is already linked to another TenSafe IR account. "
            "It must remove the link (or an admin must) before it can be linked to you.",
            409,
        )
    return link


def chat_link_confirm(*, actor, token: str) -> ChatIdentity:
    """Link the Slack user of `token` to `actor`, who confirmed it signed in.

    1. Check the link as the page did (ChatLinkError: nothing changes).
    2. In one transaction, spend it with a conditional UPDATE (unused and unexpired → used
       by `actor`): of two people confirming the same link at once exactly one wins.
    3. Create the identity. If that Slack user was linked to someone else meanwhile, the
       unique key refuses it and the whole transaction (the spent link too) rolls back.
    4. Audit, in the same transaction."""
    link = chat_link_get(token, user=actor)
    now = timezone.now()
    with transaction.atomic():
        spent = ChatLinkToken.objects.filter(
            pk=link.pk, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now, used_by=actor)
        if spent != 1:
            raise ChatLinkError(
                "This link has already been used. Run any command in Slack again for a new one.",
                410,
            )
        identity = ChatIdentity.objects.filter(
            slack_team_id=link.slack_team_id, slack_user_id=link.slack_user_id
        ).first()
        if identity is not None and identity.user_id == actor.pk:
            return identity  # linked to them already (an earlier link); nothing new to audit
        try:
            with transaction.atomic():
                identity = ChatIdentity.objects.create(
                    slack_team_id=link.slack_team_id,
                    slack_team_domain=link.slack_team_domain,
                    slack_user_id=link.slack_user_id,
                    slack_name=link.slack_name,
                    user=actor,
                )
        except IntegrityError:  # leaving the transaction with it rolls the spent link back
            raise ChatLinkError(
                f"Slack user {link.slack_user_id} is already linked to another TenSafe IR account.",
                409,
            ) from None
        chat_identity_audit("link", actor=actor, identity=identity, via="link")
    return identity


def chat_identity_unlink(*, actor, identity_id: int, via: str = "account") -> None:
    """Remove a link: one's own (account page), or anyone's for those who may delete chat
    identities in the admin (`via="admin"`). ChatIdentity.DoesNotExist when `actor` has no
    such link to remove."""
    with transaction.atomic():
        rows = ChatIdentity.objects.select_for_update().select_related("user")
        if not may_unlink_any_chat_identity(actor, via):
            rows = rows.filter(user=actor)
        identity = rows.get(pk=identity_id)
        chat_identity_audit("unlink", actor=actor, identity=identity, via=via)
        identity.delete()
