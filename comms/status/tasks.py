"""Celery tasks of the status page: thin, safe to re-run, each calling one service.

Registered when Django starts (CommsConfig.ready imports this module), so the workers know
them without a `comms.tasks` module."""

from celery import shared_task

from ..subscribers import deliveries_requeue_stale, delivery_send, subscriber_notice_send


@shared_task(ignore_result=True, acks_late=True)
def deliver_status_update_task(delivery_id: int) -> str:
    return delivery_send(delivery_id)


@shared_task(ignore_result=True)
def requeue_status_deliveries_task() -> int:
    """Re-hand subscriber deliveries whose hand-off was lost or whose sender died."""
    return len(deliveries_requeue_stale())


@shared_task(ignore_result=True, acks_late=True)
def send_subscriber_notice_task(subscriber_id: int) -> str:
    """The answer to a subscription request: a link to confirm, or "already subscribed"."""
    return subscriber_notice_send(subscriber_id)
