"""Celery tasks: thin, safe to re-run, each calling one service
(docs/architecture.md, Conventions)."""

import logging
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError, close_old_connections

from .db import connection_replaced, on_fresh_connection, opened_connection
from .outbox import outbox_deliver, outbox_sweep
from .services.paging import REQUEUE_GRACE_SECONDS, page_deliver, pages_requeue_stale
from .services.timers import deadlines_fire_due

log = logging.getLogger(__name__)

# Beat starts a sweep every second; each sweep polls for this long, so due deadlines are
# picked up within POLL_SECONDS and overlapping sweeps are harmless (they skip each other's
# rows).
SWEEP_SECONDS = 0.95
POLL_SECONDS = 0.1
# Deadlines fired per transaction; after a lost connection, down to MIN_BATCH, and back up by
# doubling with each batch that commits. Kept per worker process from one sweep to the next.
BATCH, MIN_BATCH = 500, 10
_batch = {"size": BATCH}


@shared_task(ignore_result=True)
def sweep_timers_task() -> int:
    """Fire due deadlines, and ask the page workers to re-hand lost pages."""
    fired = 0
    started = time.monotonic()
    # Not inline: re-handing pages must never hold up a deadline (inline, it cost a sweep up
    # to a second whenever pages trailed by more than the grace period; bench/timers.py). The
    # message expires with the grace period, so while the page queue is backed up (pages
    # queued, not lost) it is dropped instead of queueing every waiting page a second time.
    try:
        requeue_stale_pages_task.apply_async(expires=REQUEUE_GRACE_SECONDS, retry=False)
    except Exception:  # broker down: deadlines still fire, and the next sweep asks again
        log.warning("could not ask for stale pages to be re-handed", exc_info=True)
    limit = _batch["size"]
    while time.monotonic() - started < SWEEP_SECONDS:
        close_old_connections()
        used = None
        try:
            used = opened_connection()
            count = deadlines_fire_due(limit=limit)
        except (OperationalError, InterfaceError) as exc:
            # A batch is one transaction: a connection lost mid-batch rolls it back whole. It
            # is fired again on a new connection, in smaller batches while connections keep
            # dropping: a batch that cannot finish between two drops would never fire.
            if not connection_replaced(exc, used, deadlines_fire_due, POLL_SECONDS):
                raise
            limit = _batch["size"] = max(MIN_BATCH, limit // 4)
            time.sleep(POLL_SECONDS)
            continue
        limit = min(BATCH, limit * 2)
        _batch["size"] = limit
        fired += count
        if count == 0:
            time.sleep(POLL_SECONDS)
    return fired


@shared_task(ignore_result=True, acks_late=True)
def deliver_page_task(page_id: int) -> str:
    return page_deliver(page_id)


@shared_task(ignore_result=True)
def requeue_stale_pages_task() -> int:
    """Re-hand pages whose hand-off was lost or whose sender died (runs on the page workers)."""
    return len(on_fresh_connection(pages_requeue_stale))


@shared_task(ignore_result=True, acks_late=True)
def outbox_deliver_task(kind: str, row_id: int) -> str:
    """Send one outbox row of a registered kind (incidents.outbox)."""
    return outbox_deliver(kind, row_id)


@shared_task(ignore_result=True)
def outbox_sweep_task() -> dict:
    """Beat: hand over again every outbox row whose worker died or whose hand-off was lost."""
    return outbox_sweep()
