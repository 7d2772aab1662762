"""4.2 "Initial Triage (First 5 Minutes)": when the window ends with items of the triage
checklist (4.3) unticked, the IC (else the declarer) is reminded of them. Ticking the last item
re-plans the incident's deadlines, which cancels the reminder; the firer looks at the items
again under the incident's row lock, so a reminder never fires once they are all ticked."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..escalation import Planned, Recipients
from ..models import ChecklistItem, Deadline, Incident
from ..selectors import policy_settings
from ..states import Checklist, Status, TimelineKind
from .common import fired_with_pages, ic_or_declarer

KIND = "triage"
KEY = f"{KIND}:window"
CHECKLISTS = frozenset({Checklist.TRIAGE})  # ticking its items re-plans (incidents.hooks)


def _unticked(incident: Incident) -> list[str]:
    items = ChecklistItem.objects.filter(
        incident=incident, checklist=Checklist.TRIAGE, done=False
    ).order_by("position")
    return list(items.values_list("text", flat=True))


def plan(incident: Incident, now: datetime) -> dict[str, Planned]:
    if incident.status == Status.RESOLVED or not _unticked(incident):
        return {}
    minutes = policy_settings().triage_window_minutes
    label = f"Triage checklist (4.3) reminder: the first {minutes} minutes of triage end (4.2)"
    return {
        KEY: Planned(
            KIND,
            incident.detected_at + timedelta(minutes=minutes),
            {"minutes": minutes, "label": label},
        )
    }


def fire(deadline: Deadline, incident: Incident, recipients: Recipients, at: datetime):
    """Remind of the unticked items; None (cancelled) when none is left or it is resolved."""
    unticked = [] if incident.status == Status.RESOLVED else _unticked(incident)
    if not unticked:
        return None
    minutes = deadline.data.get("minutes")
    what = (
        f"Triage window over ({minutes} min, 4.2) with {len(unticked)} triage item"
        f"{'s' if len(unticked) != 1 else ''} unticked: {'; '.join(unticked)}"
    )
    people, note = ic_or_declarer(incident, recipients)
    return fired_with_pages(
        deadline,
        incident,
        at,
        timeline_kind=TimelineKind.TRIAGE_REMINDER,
        what=what,
        people=people,
        note=note,
        data={"minutes": minutes, "unticked": unticked},
    )
