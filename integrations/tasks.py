"""Celery tasks: thin, safe to re-run, each calling one service (STYLE.md convention 5)."""

from celery import shared_task

from .services.ingest import inbound_process, inbound_process_stale
from .services.outgoing import webhook_deliver, webhooks_requeue_stale


@shared_task(ignore_result=True, acks_late=True)
def process_inbound_task(delivery_id: int) -> str:
    return inbound_process(delivery_id)


@shared_task(ignore_result=True, acks_late=True)
def deliver_webhook_task(delivery_id: int) -> str:
    return webhook_deliver(delivery_id)


@shared_task(ignore_result=True)
def sweep_integrations_task() -> dict:
    """Apply inbound deliveries that were accepted but never applied, and re-hand outgoing
    webhook deliveries whose hand-off was lost or whose sender died."""
    return {
        "inbound": len(inbound_process_stale()),
        "webhooks": len(webhooks_requeue_stale()),
    }
