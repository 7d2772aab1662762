"""Celery tasks: thin, safe to re-run, each calling one service
(docs/architecture.md, Conventions)."""

import time

from celery import shared_task
from django.db import InterfaceError, OperationalError, close_old_connections

from .db import connection_replaced, on_fresh_connection, opened_connection
from .outbox import outbox_deliver, outbox_deliver_many, outbox_requeue_stale, outbox_sweep
from .services.paging import KIND as PAGE
from .services.timers import deadlines_fire_due

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
    """Fire due deadlines. Lost pages are not its business: they are outbox rows, re-handed by
    beat's `sweep-outbox` on the page workers, so re-handing never holds up a deadline."""
    fired = 0
    started = time.monotonic()
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
def outbox_deliver_task(kind: str, row_id: int) -> str:
    """Send one outbox row of a registered kind (incidents.outbox)."""
    return outbox_deliver(kind, row_id)


@shared_task(ignore_result=True, acks_late=True)
def outbox_deliver_many_task(kind: str, row_ids: list[int]) -> dict:
    """Send outbox rows of a kind handed over together (incidents.outbox.HAND_OFF_BATCH)."""
    return outbox_deliver_many(kind, row_ids)


@shared_task(ignore_result=True)
def outbox_sweep_task() -> dict:
    """Beat: hand over again every outbox row whose worker died or whose hand-off was lost."""
    return outbox_sweep()


# --- the names pages had before they were outbox rows, kept for one release -------------------
# During a rolling upgrade the timers workers are rolled after the page workers
# (docs/operations.md, "Upgrades"): until then they fire deadlines with the old code, hand
# their pages over as `deliver_page_task` and ask for `requeue_stale_pages_task` every second.
# A new worker serves both through the outbox, so those pages go out at once instead of
# waiting for sweep-outbox's grace period, and nothing is logged as an unknown task. Remove
# both in the release after the outbox's pages.
@shared_task(ignore_result=True, acks_late=True)
def deliver_page_task(page_id: int) -> str:
    """Forwards to `outbox_deliver("page", page_id)` (a message of the old code)."""
    return outbox_deliver(PAGE, page_id)


@shared_task(ignore_result=True)
def requeue_stale_pages_task() -> int:
    """Forwards to `outbox_requeue_stale("page")` (a message of the old code)."""
    return len(on_fresh_connection(outbox_requeue_stale, PAGE))
