from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Detection sources (procedures 4.1): alerts from Alertmanager, Grafana, PagerDuty-style
    senders and generic webhooks become incidents; outgoing webhooks and /metrics. Depends on
    `incidents`; never the reverse."""

    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from . import receivers

        receivers.connect()
