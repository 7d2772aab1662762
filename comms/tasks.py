"""Celery tasks of communications: thin, safe to re-run, each calling one service."""

from celery import shared_task

from .services import chat as chat_services


@shared_task(ignore_result=True, acks_late=True)
def chat_command_task(command_id: int) -> str:
    return chat_services.chat_command_declare(command_id)


@shared_task(ignore_result=True)
def requeue_stale_comms_task() -> int:
    """Re-hand chat commands whose hand-off was lost or whose worker died (deliveries of updates
    are outbox rows: the core's outbox sweep re-hands them)."""
    return len(chat_services.chat_commands_requeue_stale())
