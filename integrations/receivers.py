"""What integrations does when the core records something (registered in
integrations/apps.py as a reaction, incidents.reactions)."""

from .services.outgoing import webhook_deliveries_create


def outgoing_webhooks_on_timeline(incident, event):
    """Runs inside the transaction that wrote the event: the delivery rows commit with it."""
    webhook_deliveries_create(incident, event)
