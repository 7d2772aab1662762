"""Celery tasks of the status page: thin, safe to re-run, each calling one service.

Registered when Django starts (CommsConfig.ready imports this module), so the workers know
them without a `comms.tasks` module. Subscriber emails about updates are outbox rows, sent by
the core's `outbox_deliver_task` (incidents/outbox.py)."""

from celery import shared_task

from ..subscribers import subscriber_notice_send


@shared_task(ignore_result=True, acks_late=True)
def send_subscriber_notice_task(subscriber_id: int) -> str:
    """The answer to a subscription request: a link to confirm, or "already subscribed"."""
    return subscriber_notice_send(subscriber_id)
