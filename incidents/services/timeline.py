from datetime import datetime

from django.utils import timezone

from ..models import ChecklistItem, Incident, TimelineEvent
from ..policy import AUTO_TICKS
from ..reactions import reactions_run
from ..redaction import text_without_target


def timeline_record(
    incident: Incident,
    kind: str,
    text: str,
    *,
    actor=None,
    occurred_at: datetime | None = None,
    data: dict | None = None,
) -> TimelineEvent:
    """Append one event. Call inside the transaction of the change it records."""
    now = timezone.now()
    event = TimelineEvent.objects.create(
        incident=incident,
        kind=kind,
        occurred_at=occurred_at or now,
        recorded_at=now,
        actor=actor,
        text=text,
        data=data or {},
    )
    reactions_run(incident, event)
    return event


def timeline_delivery_failed(
    incident: Incident, kind: str, text: str, *, row, row_key: str, outcome
) -> TimelineEvent:
    """A delivery's final failure (an outbox row: a page, a comms delivery) on its incident's
    timeline: "`text`: <error>", with the row's target (an address, a webhook URL: a
    credential) masked in the error, since everyone who may open the incident reads it. The
    event's data: {`row_key`: the row's id, "error", "code"}."""
    error = text_without_target(outcome.error, row.target)
    return timeline_record(
        incident,
        kind,
        f"{text}: {error}",
        occurred_at=timezone.now(),
        data={row_key: row.pk, "error": error, "code": outcome.code},
    )


def checklist_auto_tick(incident: Incident, event: str, *, actor, at: datetime) -> list[str]:
    """Tick the items that `event` satisfies (policy.AUTO_TICKS); returns their texts so the
    triggering timeline event can record them."""
    wanted = set(AUTO_TICKS.get(event, []))
    if not wanted:
        return []
    items = [
        item
        for item in ChecklistItem.objects.filter(incident=incident, done=False)
        if (item.checklist, item.key) in wanted
    ]
    ChecklistItem.objects.filter(pk__in=[i.pk for i in items]).update(
        done=True, done_at=at, done_by=actor
    )
    return [item.text for item in items]
