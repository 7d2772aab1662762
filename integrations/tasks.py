"""Celery tasks: thin, safe to re-run, each calling one service
(docs/architecture.md, Conventions)."""

from celery import shared_task

from incidents.db import on_fresh_connection

from .services.ingest import inbound_apply_pending


@shared_task(ignore_result=True)
def apply_inbound_task() -> int:
    """Apply stored alert deliveries (sent by beat every second and by the receiving view).
    Not acks_late: the rows are the queue, so a lost message loses nothing; each delivery is
    applied in its own transaction, so redoing the drain on a new connection is safe."""
    return on_fresh_connection(inbound_apply_pending)
