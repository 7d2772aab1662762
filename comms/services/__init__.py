"""Every write of the communications app (docs/architecture.md, Conventions). Each
service is one transaction that locks the incident, checks the rules, writes its timeline
event and queues side effects after commit."""

from .chat import chat_command_declare, chat_command_queue, chat_request_claim, follow_up
from .deliveries import deliveries_build
from .identities import (
    ChatLinkError,
    chat_identity_audit,
    chat_identity_unlink,
    chat_link_confirm,
    chat_link_get,
    chat_link_start,
)
from .obligations import obligations_meet, obligations_sync
from .updates import update_post

__all__ = [
    "ChatLinkError",
    "chat_command_declare",
    "chat_command_queue",
    "chat_identity_audit",
    "chat_identity_unlink",
    "chat_link_confirm",
    "chat_link_get",
    "chat_link_start",
    "chat_request_claim",
    "deliveries_build",
    "follow_up",
    "obligations_meet",
    "obligations_sync",
    "update_post",
]
