from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_migrate

        from . import audit
        from .groups import ensure_groups
        from .ratelimit import login_failed_received

        post_migrate.connect(ensure_groups, sender=self)
        user_login_failed.connect(login_failed_received, dispatch_uid="tensafe-login-failed")
        audit.connect()  # the audit and grant hooks on users and groups, listed there
