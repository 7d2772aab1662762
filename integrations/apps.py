from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Detection sources (procedures 4.1): alerts from Alertmanager, Grafana, PagerDuty-style
    senders and generic webhooks become incidents; outgoing webhooks and /metrics. Depends on
    `incidents`; never the reverse."""

    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from incidents.reactions import register_reaction

        from . import receivers
        from .services import outgoing
        from .services.outgoing import KIND_EVENTS

        register_reaction(
            KIND_EVENTS,
            receivers.outgoing_webhooks_on_timeline,
            name="integrations: a delivery row per outgoing webhook subscribed to the event",
        )
        # Outgoing webhook deliveries are outbox rows, in order per subscription and incident.
        outgoing.register()
