from django.apps import AppConfig


class PirConfig(AppConfig):
    """Post-incident reviews (procedures 8). Depends on `incidents`; never the reverse."""

    name = "pir"
    verbose_name = "Post-incident reviews"
