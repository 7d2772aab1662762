from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import audit
        from .groups import ensure_groups

        post_migrate.connect(ensure_groups, sender=self)
        audit.connect()  # the audit and grant hooks on users and groups, listed there
