"""Celery tasks: thin, safe to re-run, each calling one service
(docs/architecture.md, Conventions)."""

from celery import shared_task

from incidents.db import on_fresh_connection

from .services.ingest import inbound_apply_pending
from .services.outgoing import webhook_deliver, webhooks_requeue_stale


@shared_task(ignore_result=True)
def apply_inbound_task() -> int:
    """Apply stored alert deliveries (sent by beat every second and by the receiving view).
    Not acks_late: the rows are the queue, so a lost message loses nothing; each delivery is
    applied in its own transaction, so redoing the drain on a new connection is safe."""
    return on_fresh_connection(inbound_apply_pending)


@shared_task(ignore_result=True, acks_late=True)
def deliver_webhook_task(delivery_id: int) -> str:
    return webhook_deliver(delivery_id)


@shared_task(ignore_result=True)
def sweep_integrations_task() -> dict:
    """Re-hand outgoing webhook deliveries whose hand-off was lost or whose sender died."""
    return {"webhooks": len(on_fresh_connection(webhooks_requeue_stale))}
