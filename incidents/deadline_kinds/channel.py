"""Appendix A "Close incident channel after 24h": a deadline planned at resolution that closes
the incident's channel (`Incident.channel_closed_at`, on the timeline, and the IC checklist's
item ticked). Talking to Slack is not part of it yet: the closure is recorded and shown.
Reopening the incident re-plans, which cancels a pending closure (and reopens a closed
channel: the `reopen` transition clears `channel_closed_at`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..escalation import Planned, Recipients
from ..hooks import Fired
from ..models import Deadline, Incident
from ..selectors import policy_settings
from ..services.timeline import checklist_auto_tick
from ..states import Status, TimelineKind

KIND = "channel"
KEY = f"{KIND}:close"


def plan(incident: Incident, now: datetime) -> dict[str, Planned]:
    if incident.status != Status.RESOLVED or incident.channel_closed_at is not None:
        return {}
    hours = policy_settings().channel_close_after_hours
    label = (
        f"Close the incident channel {incident.channel_name} "
        f"({hours} h after resolution, Appendix A)"
    )
    return {
        KEY: Planned(
            KIND,
            incident.resolved_at + timedelta(hours=hours),
            {"hours": hours, "channel_name": incident.channel_name, "label": label},
        )
    }


def fire(deadline: Deadline, incident: Incident, recipients: Recipients, at: datetime):
    """Close the channel; None (cancelled) when the incident is open again or it is closed."""
    if incident.status != Status.RESOLVED or incident.channel_closed_at is not None:
        return None
    incident.channel_closed_at = at
    incident.save(update_fields=["channel_closed_at", "updated_at"])
    ticked = checklist_auto_tick(incident, "channel_closed", actor=None, at=at)
    hours = deadline.data.get("hours")
    text = f"Incident channel {incident.channel_name} closed, {hours} h after resolution"
    data = {"channel_name": incident.channel_name, "hours": hours, "ticked": ticked}
    return Fired(TimelineKind.CHANNEL_CLOSED, text + " (Appendix A)", data)
