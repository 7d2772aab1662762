"""Every write of the communications app (STYLE.md: services write, selectors read). Each
service is one transaction that locks the incident, checks the rules, writes its timeline
event and queues side effects after commit."""

from .chat import chat_command_declare, chat_command_queue
from .deliveries import deliveries_build, deliveries_requeue_stale, delivery_deliver
from .obligations import obligations_meet, obligations_sync
from .updates import may_post_publicly, update_post

__all__ = [
    "chat_command_declare",
    "chat_command_queue",
    "deliveries_build",
    "deliveries_requeue_stale",
    "delivery_deliver",
    "may_post_publicly",
    "obligations_meet",
    "obligations_sync",
    "update_post",
]
