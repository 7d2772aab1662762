"""The "comms" deadline kind (procedures 2.1, 6.3), run by the core's timer engine
(`incidents.hooks.register_deadline_kind`): the same rows, sweeper and exactly-once firing as
the escalations.

Each open obligation (`comms.services.obligations`) with a deadline has two deadlines:
`comms:<channel>:<sequence>:remind`, a lead before it is due (TENSAFE_COMMS_REMINDER_LEAD_MINUTES,
at most half the interval; a resolved update is reminded of at resolution), and
`comms:<channel>:<sequence>:missed`, at the deadline. Both page the Communications Lead, else the
Incident Commander, else the on-call engineer (else the backup), through the core's paging,
and write COMMS_REMINDER / COMMS_MISSED on the timeline. A post meets the obligation and the
re-plan cancels both.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from incidents.escalation import Planned, Recipients
from incidents.hooks import Fired
from incidents.models import Deadline, Incident
from incidents.selectors import incident_active_roles
from incidents.services.paging import pages_build
from incidents.services.timers import deadlines_replan
from incidents.states import Role, Status, TimelineKind

from .models import CommsObligation
from .render import humanize_minutes, public_words_missing, utc_time
from .services.obligations import missed_at_birth, obligations_sync, reminder_lead

KIND = "comms"
CATCH_UP = "catch-up"
LABELS = {
    CommsObligation.Channel.STATUS_PAGE: "Status page update",
    CommsObligation.Channel.INTERNAL: "Internal status update",
    CommsObligation.Channel.CUSTOMER_EMAIL: "Customer email",
    CommsObligation.Channel.CUSTOMER_FIRST: "First customer communication",
}
# At resolution the internal update owed is Appendix A's "Send internal summary".
RESOLVED_LABELS = {CommsObligation.Channel.INTERNAL: "Internal summary"}
DRAFT_CHANNEL = {
    CommsObligation.Channel.CUSTOMER_FIRST: CommsObligation.Channel.STATUS_PAGE,
}


def remind_at(obligation: CommsObligation) -> datetime | None:
    """When to remind: the lead before the deadline, capped at half the interval; a resolved
    update at resolution. None when there is nothing to remind of."""
    if obligation.due_at is None:
        return None
    if obligation.kind == CommsObligation.Kind.RESOLVED:
        return obligation.counted_from
    lead = min(reminder_lead(), (obligation.due_at - obligation.counted_from) / 2)
    if lead <= timedelta(0):
        return None
    return obligation.due_at - lead


def obligation_label(obligation: CommsObligation) -> str:
    label = LABELS[obligation.channel]
    minutes = int((obligation.due_at - obligation.counted_from).total_seconds() // 60)
    if obligation.kind == CommsObligation.Kind.FIRST:
        return f"{label} (within {humanize_minutes(minutes)} of detection)"
    if obligation.kind == CommsObligation.Kind.CADENCE:
        return f"{label} (every {humanize_minutes(minutes)})"
    return f"{RESOLVED_LABELS.get(obligation.channel, label)} (resolved)"


def plan(incident: Incident, now: datetime) -> dict[str, Planned]:
    """Planner: the reminder and missed deadlines of each open obligation with a deadline,
    and one catch-up reminder for those missed before the incident was declared. Keeps the
    obligations themselves in step first (same transaction, incident locked)."""
    planned: dict[str, Planned] = {}
    obligations = obligations_sync(incident, now)
    if born_missed := [o for o in obligations if missed_at_birth(o)]:
        planned[f"{KIND}:catch-up:{born_missed[0].pk}"] = Planned(
            KIND,
            max(o.created_at for o in born_missed),
            {
                "step": CATCH_UP,
                "obligations": [o.pk for o in born_missed],
                "severity": incident.severity,
                "label": "Updates already due at declaration",
            },
        )
    for obligation in obligations:
        if obligation.status != CommsObligation.Status.PENDING or obligation.due_at is None:
            continue
        key = f"{KIND}:{obligation.channel}:{obligation.sequence}"
        data = {
            "obligation": obligation.pk,
            "channel": obligation.channel,
            "sequence": obligation.sequence,
            "kind": obligation.kind,
            "severity": incident.severity,
            "due_at": obligation.due_at.isoformat(),
        }
        label = obligation_label(obligation)
        remind = remind_at(obligation)
        if remind is not None and now < obligation.due_at:
            planned[f"{key}:remind"] = Planned(
                KIND, remind, {**data, "step": "remind", "label": f"{label}: reminder"}
            )
        planned[f"{key}:missed"] = Planned(
            KIND, obligation.due_at, {**data, "step": "missed", "label": f"{label}: due"}
        )
    return planned


def reminder_people(incident: Incident, recipients: Recipients) -> tuple[list, str]:
    """The Communications Lead, else the Incident Commander, else the on-call engineer of the
    affected services' teams, else their backup. Returns ([(target, user)], note)."""
    holders = {a.role: a.user for a in incident_active_roles(incident) if a.role != Role.SME}
    for role in (Role.COMMS_LEAD, Role.INCIDENT_COMMANDER):
        if role in holders:
            return [(str(role), holders[role])], ""
    for target in ("on_call", "backup_on_call"):
        people, note = recipients.resolve(target, incident)
        if people:
            return [(target, p) for p in people], note
    return [], "no Communications Lead, Incident Commander or on-call engineer to remind"


def _body(incident: Incident, obligation: CommsObligation, what: str) -> str:
    channel = DRAFT_CHANNEL.get(obligation.channel, obligation.channel)
    template = "&template=resolved" if obligation.kind == CommsObligation.Kind.RESOLVED else ""
    return (
        f"{what}\n"
        f"Draft from the procedures' template: {settings.PUBLIC_BASE_URL}/api/v1/incidents/"
        f"{incident.pk}/updates/draft/?channel={channel}{template}"
    )


def fire(deadline: Deadline, incident: Incident, recipients: Recipients, at: datetime):
    """Firer: remind of, or record as missed, the obligation behind `deadline`; None when it
    no longer applies (met meanwhile, or the incident resolved), so it is cancelled."""
    data = dict(deadline.data)
    if data["step"] == CATCH_UP:
        return _catch_up(deadline, incident, recipients, at, data)
    obligation = CommsObligation.objects.filter(
        pk=data.get("obligation"), incident=incident
    ).first()
    if obligation is None or obligation.status != CommsObligation.Status.PENDING:
        return None
    if incident.status == Status.RESOLVED and obligation.kind != CommsObligation.Kind.RESOLVED:
        return None
    label = obligation_label(obligation)
    due = utc_time(obligation.due_at)
    if data["step"] == "remind":
        kind, what = TimelineKind.COMMS_REMINDER, f"{label} due at {due}"
        obligation.reminded_at = at
        obligation.save(update_fields=["reminded_at", "updated_at"])
    else:
        kind, what = TimelineKind.COMMS_MISSED, f"{label} missed: it was due at {due}"
        obligation.status, obligation.missed_at = CommsObligation.Status.MISSED, at
        obligation.save(update_fields=["status", "missed_at", "updated_at"])
    data["label"] = label
    return _page_owner(deadline, incident, recipients, at, [obligation], what, kind, data)


def _catch_up(deadline: Deadline, incident: Incident, recipients: Recipients, at, data: dict):
    """The one reminder for the updates that were already due when the incident was declared
    (each recorded missed at once): their owner is paged once, naming them all, instead of once
    per channel. None when they were all posted meanwhile, or the incident resolved."""
    owed = list(
        CommsObligation.objects.filter(
            pk__in=data["obligations"],
            incident=incident,
            status=CommsObligation.Status.MISSED,
            met_by_update__isnull=True,
        ).order_by("channel", "sequence")
    )
    if not owed or incident.status == Status.RESOLVED:
        return None
    CommsObligation.objects.filter(pk__in=[o.pk for o in owed]).update(
        reminded_at=at, updated_at=at
    )
    due = "; ".join(f"{obligation_label(o)} was due at {utc_time(o.due_at)}" for o in owed)
    what = f"Declared after its first updates were due: {due}. Post them now"
    kind = TimelineKind.COMMS_MISSED
    return _page_owner(deadline, incident, recipients, at, owed, what, kind, data)


def _page_owner(deadline, incident, recipients, at, obligations, what, kind, data) -> Fired:
    """Page the obligations' owner (`reminder_people`) about `what`, with a draft link for the
    first of them, and say so on the timeline."""
    channels = {o.channel for o in obligations}
    if channels - {CommsObligation.Channel.INTERNAL} and public_words_missing(incident):
        what += (
            " (a security incident: the security group must approve its public title and "
            "text first)"
        )
    people, note = reminder_people(incident, recipients)
    page_ids, summary = pages_build(
        incident,
        deadline=deadline,
        rule_key=deadline.key,
        reason=what,
        people=people,
        at=at,
        body=_body(incident, obligations[0], what),
    )
    if data["step"] == "missed":
        # The cadence goes on from the missed deadline: plan the next obligation now.
        deadlines_replan(incident, now=at)
    text = f"{what} — paged {summary}" if summary else f"{what} — nobody paged"
    if note:
        text += f" ({note})"
    data.update({"pages": page_ids, "notes": [note] if note else []})
    return Fired(kind, text, data, page_ids)
