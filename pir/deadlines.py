"""The review's reminders as a deadline kind of the timer engine (incidents.hooks): planned
whenever the incident's deadlines are re-planned (resolution, review created, review moved
along), swept and fired exactly once each by the core's sweeper, with the pages and the
PIR_REMINDER timeline event written in one transaction. Publishing the review un-plans them
(the pending ones are cancelled), and a firer that finds it published does nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from incidents.escalation import Planned, Recipients
from incidents.hooks import Fired
from incidents.models import Deadline, Incident, User
from incidents.selectors import incident_ic_id
from incidents.services.paging import pages_build
from incidents.states import Status, TimelineKind

from .models import PirStatus, PostIncidentReview

KIND = "pir"
# When the author, the IC and the Engineering Manager are reminded, relative to the due time.
# The procedures set the due time (8.1, policy pir_due_hours); these nudges are ours.
REMINDERS = (
    ("before", timedelta(hours=-24), "due in 24 hours"),
    ("due", timedelta(0), "due now"),
    ("overdue", timedelta(hours=24), "overdue by 24 hours"),
)
REMINDER_TEXT = {stage: words for stage, _offset, words in REMINDERS}


def pir_plan(incident: Incident, now: datetime) -> dict[str, Planned]:
    """The reminders an incident should have pending now: none unless it is resolved and has
    an unpublished review. A "before" reminder whose time passed before the review existed is
    not planned (the "due" one says more)."""
    if incident.status != Status.RESOLVED:
        return {}
    pir = PostIncidentReview.objects.filter(incident=incident).only("id", "status", "due_at")
    pir = pir.first()
    if pir is None or pir.status == PirStatus.PUBLISHED:
        return {}
    plan = {}
    for stage, offset, _words in REMINDERS:
        due = pir.due_at + offset
        if offset < timedelta(0) and due < now:
            continue
        label = f"Post-incident review {pir.reference} reminder: {REMINDER_TEXT[stage]}"
        plan[f"{KIND}:{stage}"] = Planned(
            KIND,
            due,
            {
                "pir": pir.pk,
                "stage": stage,
                "pir_due_at": pir.due_at.isoformat(),
                "label": label,
            },
        )
    return plan


def _people(pir: PostIncidentReview, incident: Incident, recipients: Recipients):
    people = []
    if pir.author_id:
        people.append(("pir_author", pir.author))
    ic_id = incident_ic_id(incident)
    if ic_id and ic_id != pir.author_id:
        people.append(("incident_commander", User.objects.get(pk=ic_id)))
    managers, note = recipients.resolve("engineering_manager", incident)
    people += [("engineering_manager", m) for m in managers]
    return people, note


def pir_fire(deadline: Deadline, incident: Incident, recipients: Recipients, at: datetime):
    """Page the author, the IC and the Engineering Manager; None (cancelled) when the review
    was published or the incident is open again."""
    pir = (
        PostIncidentReview.objects.select_related("author")
        .filter(incident=incident, pk=deadline.data.get("pir"))
        .first()
    )
    if pir is None or pir.status == PirStatus.PUBLISHED or incident.status != Status.RESOLVED:
        return None
    stage = deadline.data.get("stage", "due")
    reason = f"Post-incident review {pir.reference} {REMINDER_TEXT.get(stage, 'due')}"
    people, note = _people(pir, incident, recipients)
    url = f"{settings.PUBLIC_BASE_URL}/pirs/{pir.pk}/"
    body = (
        f"{reason} ({pir.due_at:%Y-%m-%d %H:%M} UTC). It is {pir.get_status_display().lower()}."
        f"\nReview: {url}"
    )
    page_ids, summary = pages_build(
        incident,
        deadline=deadline,
        rule_key=deadline.key,
        reason=reason,
        people=people,
        at=at,
        body=body,
    )
    text = f"{reason} — paged {summary}" if summary else f"{reason} — nobody paged"
    if note:
        text += f" ({note})"
    data = {"pir": pir.pk, "stage": stage, "pages": page_ids}
    return Fired(TimelineKind.PIR_REMINDER, text, data, page_ids)
