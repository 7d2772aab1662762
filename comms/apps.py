from django.apps import AppConfig


class CommsConfig(AppConfig):
    """Communications (procedures 6): status page, templated updates, cadences, chat commands.
    Depends on `incidents`; `incidents` never imports from here."""

    name = "comms"
    verbose_name = "Communications"

    def ready(self):
        from incidents.hooks import register_deadline_kind
        from incidents.reactions import register_reaction
        from incidents.states import TimelineKind

        from . import deadlines
        from .services import deliveries

        # Communication deadlines and cadences (2.1, 6.3) run on the core's timer engine.
        register_deadline_kind(deadlines.KIND, planner=deadlines.plan, firer=deadlines.fire)
        # Customer emails and team-webhook posts of updates are outbox rows.
        deliveries.register()

        # Status page: subscriber emails are outbox rows written for each public update; the
        # notice task answering a subscription request is registered with the workers.
        from . import subscribers
        from .status import tasks as status_tasks  # noqa: F401
        from .subscribers import subscribers_on_status_page_posted

        register_reaction(
            TimelineKind.STATUS_PAGE_POSTED,
            subscribers_on_status_page_posted,
            name="comms: a delivery row per confirmed status page subscriber",
        )

        subscribers.register()

        # The incident's Slack channel: Web API calls as outbox rows, written with the events.
        from . import slack

        register_reaction(
            TimelineKind.DECLARED,
            slack.slack_on_declared,
            name="comms: Slack channel created, topic, links pinned, people invited, announced",
        )
        register_reaction(
            slack.FOLLOWED,
            slack.slack_on_incident_event,
            name="comms: Slack channel told (roles invited, changes posted, closed: archived)",
        )
        slack.register()
