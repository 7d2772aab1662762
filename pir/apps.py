from django.apps import AppConfig


class PirConfig(AppConfig):
    """Post-incident reviews (procedures 8). Depends on `incidents`; never the reverse."""

    name = "pir"
    verbose_name = "Post-incident reviews"

    def ready(self):
        from django.db.models.signals import post_migrate

        from incidents.hooks import register_deadline_kind, timeline_recorded

        from . import deadlines, digests, receivers
        from .groups import grant_sre_lead_permissions

        post_migrate.connect(grant_sre_lead_permissions, sender=self)

        register_deadline_kind(deadlines.KIND, planner=deadlines.pir_plan, firer=deadlines.pir_fire)
        digests.register()  # the review digests are outbox rows
        timeline_recorded.connect(
            receivers.on_timeline_recorded, dispatch_uid="pir.on_timeline_recorded"
        )
