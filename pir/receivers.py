"""What the review app does when the core records something (registered in pir/apps.py as a
reaction, incidents.reactions)."""

from incidents.states import Status

from .services import pir_on_incident_resolved


def pir_on_status_changed(incident, event):
    """An incident resolved: create (or keep) its review, in the resolving transaction."""
    if event.data.get("to") == Status.RESOLVED:
        pir_on_incident_resolved(incident, event)
