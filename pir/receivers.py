"""What the review app does when the core records something (incidents.hooks)."""

from incidents.states import Status, TimelineKind

from .services import pir_on_incident_resolved


def on_timeline_recorded(sender, incident, event, **kwargs):
    """An incident resolved: create (or keep) its review, in the resolving transaction."""
    if event.kind == TimelineKind.STATUS_CHANGED and event.data.get("to") == Status.RESOLVED:
        pir_on_incident_resolved(incident, event)
