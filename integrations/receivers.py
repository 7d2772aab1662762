"""Listeners on the core's extension points (incidents.hooks), connected in apps.ready()."""

from incidents.hooks import timeline_recorded

from .services.outgoing import KIND_EVENTS, webhook_deliveries_create


def outgoing_webhooks_on_timeline(sender, incident, event, **kwargs):
    """Runs inside the transaction that wrote the event: the delivery rows commit with it."""
    if event.kind in KIND_EVENTS:
        webhook_deliveries_create(incident, event)


def connect() -> None:
    timeline_recorded.connect(
        outgoing_webhooks_on_timeline, dispatch_uid="integrations.outgoing_webhooks"
    )
