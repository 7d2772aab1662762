from django.apps import AppConfig


class CommsConfig(AppConfig):
    """Communications (procedures 6): status page, templated updates, cadences, chat commands.
    Depends on `incidents`; `incidents` never imports from here."""

    name = "comms"
    verbose_name = "Communications"
