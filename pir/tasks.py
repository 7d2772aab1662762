"""Celery tasks: thin, safe to re-run, each calling one service (docs/architecture.md, Conventions:
"Rows before sends"). The review reminders need no task of their own: they are deadlines the
core's sweeper fires, and the digests' sends are the core outbox's (incidents/outbox.py)."""

from celery import shared_task

from .digests import action_digests_plan


@shared_task(ignore_result=True)
def action_review_digests_task() -> int:
    """Beat, hourly: write this period's digests (once each); the outbox sends them."""
    return len(action_digests_plan())
