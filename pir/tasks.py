"""Celery tasks: thin, safe to re-run, each calling one service (docs/architecture.md, Conventions:
"Rows before sends"). The review reminders need no task of their own: they are deadlines the
core's sweeper fires."""

from celery import shared_task

from .digests import (
    action_digest_deliver,
    action_digests_pending,
    action_digests_plan,
    digests_enqueue,
)


@shared_task(ignore_result=True)
def action_review_digests_task() -> int:
    """Beat, hourly: write this period's digests (once each), and re-hand any still pending
    (a lost hand-off or a failed send)."""
    new = action_digests_plan()
    digests_enqueue([pk for pk in action_digests_pending() if pk not in new])
    return len(new)


@shared_task(ignore_result=True, acks_late=True)
def deliver_action_digest_task(delivery_id: int) -> str:
    return action_digest_deliver(delivery_id)
