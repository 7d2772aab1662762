from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_migrate

        from . import audit, deadline_kinds
        from .api.list_cache import incidents_version_forget
        from .groups import ensure_groups
        from .ratelimit import login_failed_received
        from .reactions import EVERY_EVENT, register_reaction
        from .services import paging
        from .services.responses import escalation_responses_on_request
        from .states import TimelineKind

        post_migrate.connect(ensure_groups, sender=self)
        user_login_failed.connect(login_failed_received, dispatch_uid="tensafe-login-failed")
        register_reaction(
            EVERY_EVENT,
            incidents_version_forget,
            name="incidents: forget the incident list's remembered version",
        )
        audit.connect()  # the audit and grant hooks on users and groups, listed there
        # The first minutes (4.2, App. A), the channel (App. A) and escalation contacts'
        # response times (5.3) run on the timer engine like the apps' kinds.
        deadline_kinds.register()
        register_reaction(
            TimelineKind.ESCALATION_REQUESTED,
            escalation_responses_on_request,
            name="incidents: time the escalation contact's response",
        )
        # Pages are rows of the delivery outbox, kind "page" (incidents/services/paging.py).
        paging.register()
        register_reaction(
            [TimelineKind.ACKNOWLEDGED, TimelineKind.STATUS_CHANGED],
            paging.pagerduty_follow_ups,
            name="incidents: PagerDuty told of the acknowledgement and the resolution",
        )
