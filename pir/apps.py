from django.apps import AppConfig


class PirConfig(AppConfig):
    """Post-incident reviews (procedures 8). Depends on `incidents`; never the reverse."""

    name = "pir"
    verbose_name = "Post-incident reviews"

    def ready(self):
        from django.db.models.signals import post_migrate

        from incidents.hooks import register_deadline_kind
        from incidents.reactions import register_reaction
        from incidents.states import TimelineKind

        from . import deadlines, digests, receivers
        from .groups import grant_sre_lead_permissions

        post_migrate.connect(grant_sre_lead_permissions, sender=self)

        register_deadline_kind(deadlines.KIND, planner=deadlines.pir_plan, firer=deadlines.pir_fire)
        digests.register()  # the review digests are outbox rows
        register_reaction(
            TimelineKind.STATUS_CHANGED,
            receivers.pir_on_status_changed,
            name="pir: a review for a resolved incident",
        )
