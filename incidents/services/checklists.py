from datetime import datetime

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ..hooks import checklist_plans
from ..models import ChecklistItem
from ..permissions import require_writer
from ..selectors import incident_get_for_user
from ..states import TimelineKind
from .timeline import timeline_record
from .timers import deadlines_replan


def incident_checklist_set(
    *, actor, incident_id, item_id, done: bool, at: datetime | None = None
) -> ChecklistItem:
    """Tick (or untick) a checklist item; the change is timestamped and on the timeline."""
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        if actor is not None:
            require_writer(actor)
        try:
            item = ChecklistItem.objects.select_for_update().get(pk=item_id, incident=incident)
        except (ChecklistItem.DoesNotExist, ValueError, TypeError):
            raise Http404("No checklist item with that id on this incident.") from None
        if item.done == done:
            return item
        now = at or timezone.now()
        item.done = done
        item.done_at, item.done_by = (now, actor) if done else (None, None)
        item.save(update_fields=["done", "done_at", "done_by"])
        if checklist_plans(item.checklist):
            deadlines_replan(incident, now=now)  # the triage reminder (4.2) once all are ticked
        timeline_record(
            incident,
            TimelineKind.CHECKLIST_TICKED if done else TimelineKind.CHECKLIST_UNTICKED,
            f"{'Ticked' if done else 'Unticked'} ({item.get_checklist_display()}): {item.text}",
            actor=actor,
            occurred_at=now,
            data={"item": item.pk, "checklist": item.checklist, "key": item.key, "done": done},
        )
    return item
