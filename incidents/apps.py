from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_migrate

        from . import audit
        from .api.list_cache import incidents_version_forget
        from .groups import ensure_groups
        from .ratelimit import login_failed_received
        from .reactions import EVERY_EVENT, register_reaction
        from .services import paging

        post_migrate.connect(ensure_groups, sender=self)
        user_login_failed.connect(login_failed_received, dispatch_uid="tensafe-login-failed")
        register_reaction(
            EVERY_EVENT,
            incidents_version_forget,
            name="incidents: forget the incident list's remembered version",
        )
        audit.connect()  # the audit and grant hooks on users and groups, listed there
        # Pages are rows of the delivery outbox, kind "page" (incidents/services/paging.py).
        paging.register()
