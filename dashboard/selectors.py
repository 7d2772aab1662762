"""Reads for the dashboard's pages. Everything about incidents comes through
`incidents.selectors` (the one place that decides visibility); this module only arranges it
for the pages: the board's rows and their countdowns, the incident page's panels, on-call."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.urls import reverse

from incidents.escalation import TARGET_LABELS
from incidents.models import Deadline, EscalationContact, Schedule, Service, Team, User
from incidents.oncall import oncall_at, oncall_shifts
from incidents.permissions import (
    can_override_on_call,
    can_transition,
    is_writer,
    may_approve_public_text,
    may_end_security_incident,
    may_make_security_incident,
    resolve_refusal_for,
)
from incidents.selectors import (
    deadlines_for_user,
    escalation_awaits,
    incident_active_roles,
    incident_checklist,
    incident_detail_for_user,
    incident_ic_id,
    incident_list_for_api,
    incident_timeline,
    incident_transitions_from,
)
from incidents.services.escalations import MANUAL_TARGETS
from incidents.states import OPEN_STATUSES, Checklist, Role, Severity, Status

from . import partners

# How each transition reads on its button (the transitions themselves come from the model).
TRANSITION_LABELS = {
    "identify": "Cause identified",
    "mitigate": "Fix in: start monitoring",
    "fix_did_not_hold": "Fix did not hold (back to Identified)",
    "cause_unknown_again": "Cause unknown again (back to Investigating)",
    "resolve": "Resolve",
    "reopen": "Reopen",
}
# Transitions that must say why (the service refuses them without a reason).
REASON_REQUIRED = frozenset({"reopen"})


# --- board ------------------------------------------------------------------------------------
@dataclass
class Countdown:
    label: str
    due_at: datetime


@dataclass
class BoardRow:
    incident: object
    ic: User | None
    comms: list[Countdown] = field(default_factory=list)
    escalation: Countdown | None = None


def board_filter_choices() -> dict:
    return {
        "severities": Severity.choices,
        "statuses": [(s.value, s.label) for s in OPEN_STATUSES],
        "services": list(Service.objects.order_by("name").values_list("slug", "name")),
        "teams": list(Team.objects.order_by("name").values_list("slug", "name")),
    }


def board_incidents(user, *, severity="", status="", service="", team="") -> QuerySet:
    """Open incidents `user` may see, most severe first, then oldest first."""
    qs = incident_list_for_api(user).filter(status__in=OPEN_STATUSES)
    if severity:
        qs = qs.filter(severity=severity)
    if status:
        qs = qs.filter(status=status)
    if service:
        qs = qs.filter(services__slug=service)
    if team:
        qs = qs.filter(services__team__slug=team)
    return qs.distinct().order_by("severity", "detected_at", "id")


def _next_escalations(user, incident_ids: list[int]) -> dict[int, Countdown]:
    out: dict[int, Countdown] = {}
    pending = deadlines_for_user(user).filter(
        incident_id__in=incident_ids, status=Deadline.Status.PENDING, kind="escalation"
    )
    for deadline in pending.order_by("due_at", "id"):
        if deadline.incident_id not in out:
            target = TARGET_LABELS.get(deadline.data.get("target"), deadline.data.get("target"))
            reason = deadline.data.get("reason", "")
            label = f"Escalation to {target}" + (f" ({reason})" if reason else "")
            out[deadline.incident_id] = Countdown(label, deadline.due_at)
    return out


def board_rows(user, **filters) -> list[BoardRow]:
    incidents = list(board_incidents(user, **filters))
    ids = [i.pk for i in incidents]
    escalations = _next_escalations(user, ids)
    comms = partners.next_updates(user, incidents)
    rows = []
    for incident in incidents:
        ic = next(
            (a.user for a in incident_active_roles(incident) if a.role == Role.INCIDENT_COMMANDER),
            None,
        )
        rows.append(
            BoardRow(
                incident,
                ic,
                comms=[Countdown(label, due) for label, due in comms.get(incident.pk, [])],
                escalation=escalations.get(incident.pk),
            )
        )
    return rows


# --- incident page ----------------------------------------------------------------------------
@dataclass
class TransitionButton:
    to: str
    name: str
    label: str
    needs_reason: bool


@dataclass
class ResolvePanel:
    shown: bool
    allowed: bool
    reasons: list[str]


def _transition_buttons(incident) -> list[TransitionButton]:
    names = incident_transitions_from(incident)
    return [
        TransitionButton(
            to, names[to], TRANSITION_LABELS.get(names[to], to), names[to] in REASON_REQUIRED
        )
        for to in incident.allowed_transitions
        if to in names
    ]


def _resolve_panel(user, incident) -> ResolvePanel:
    """Resolve is offered from Monitoring; when it may not happen yet, say every reason."""
    if incident.status != Status.MONITORING:
        return ResolvePanel(False, False, [])
    if Status.RESOLVED in incident.allowed_transitions:
        return ResolvePanel(True, True, [])
    reasons = list(incident.resolution_blockers)
    if not can_transition(user, "resolve", incident_ic_id(incident)):
        reasons.append(resolve_refusal_for(user))
    return ResolvePanel(True, False, reasons)


@dataclass
class SecurityPanel:
    """The security flag and, for a security incident, its public words (2.1, 5.1)."""

    can_change: bool  # this user may flip the flag the way `to` says
    to: bool  # what the button makes it: a security incident (True) or an ordinary one
    can_approve: bool  # this user may set and approve the public title and text


def _security_panel(user, incident) -> SecurityPanel:
    to = not incident.security
    if to:
        can_change = may_make_security_incident(user, incident_ic_id(incident))
    else:
        can_change = may_end_security_incident(user)
    return SecurityPanel(
        can_change=can_change,
        to=to,
        can_approve=incident.security and may_approve_public_text(user),
    )


def _checklists(incident) -> list[dict]:
    items = list(incident_checklist(incident))
    out = []
    for value, label in Checklist.choices:
        mine = [i for i in items if i.checklist == value]
        phases: dict[str, list] = defaultdict(list)
        for item in mine:
            phases[item.phase].append(item)
        out.append(
            {
                "key": value,
                "label": label,
                "phases": list(phases.items()),
                "done": sum(1 for i in mine if i.done),
                "total": len(mine),
            }
        )
    return out


def escalation_targets(incident) -> list[tuple[str, str]]:
    """Manual escalation targets (5.3) this incident may use: P1-only contacts only for P1."""
    p1_only = set(EscalationContact.objects.filter(p1_only=True).values_list("role", flat=True))
    contacts = {c.role: c for c in EscalationContact.objects.all()}
    out = []
    for target in MANUAL_TARGETS:
        if target in p1_only and incident.severity != Severity.P1:
            continue
        contact = contacts.get(target)
        label = TARGET_LABELS.get(target, target)
        if contact is not None:
            label += f" — {contact.contact_method}, responds in {contact.response_minutes} min"
        out.append((target, label))
    return out


def active_users() -> QuerySet[User]:
    return User.objects.filter(is_active=True).order_by("username")


def incident_timeline_after(incident, after: int | None) -> list:
    events = incident_timeline(incident)
    if after is not None:
        events = events.filter(pk__gt=after).order_by("id")
    return list(events)


def pending_deadlines(incident) -> list[Countdown]:
    """The incident's pending deadlines in words (the detail selector labelled them)."""
    return [Countdown(d.label, d.due_at) for d in incident.deadlines_pending]


def incident_page(user, incident_id) -> dict:
    """Everything the incident page shows, decided here (Http404 when `user` may not see it)."""
    incident = incident_detail_for_user(user, incident_id)
    roles = incident_active_roles(incident)
    timeline = incident_timeline_after(incident, None)
    return {
        "incident": incident,
        "can_write": is_writer(user),
        "transitions": _transition_buttons(incident),
        "resolve": _resolve_panel(user, incident),
        "security": _security_panel(user, incident),
        "can_acknowledge": incident.acknowledged_at is None and is_writer(user),
        "can_override": is_writer(user) and can_override_on_call(user),
        "roles": roles,
        "ic": next((a.user for a in roles if a.role == Role.INCIDENT_COMMANDER), None),
        "role_choices": Role.choices,
        "users": active_users(),
        "checklists": _checklists(incident),
        "timeline": timeline,
        "last_event_id": timeline[-1].pk if timeline else 0,
        "deadlines": pending_deadlines(incident),
        "bridge": incident.bridge,
        "responses": incident.escalation_responses_shown,
        "awaited": escalation_awaits(incident, user),
        "services": list(incident.services.all()),
        "runbooks": [
            {"service": s, "is_url": s.runbook.startswith(("https://", "http://"))}
            for s in incident.services.all()
        ],
        "escalation_targets": escalation_targets(incident),
        "comms": partners.incident_comms(user, incident),
        "pir": partners.incident_pir(incident),
    }


# --- on-call ----------------------------------------------------------------------------------
@dataclass
class ScheduleNow:
    schedule: Schedule
    primary: User | None
    backup: User | None
    rotation: str
    handoffs: list
    ical_url: str


def oncall_overview(now: datetime) -> list[tuple[Team, list[ScheduleNow]]]:
    """Who is on call now for each team's schedules, the next three hand-offs within 8 days,
    and each schedule's calendar feed path."""
    by_team: dict[int, tuple[Team, list[ScheduleNow]]] = {}
    schedules = Schedule.objects.select_related("team").prefetch_related("rotations")
    for schedule in schedules.order_by("team__name", "name"):
        current = oncall_at(schedule, now)
        handoffs = oncall_shifts(schedule, now, now + timedelta(days=8))[1:4]
        entry = ScheduleNow(
            schedule,
            current.primary,
            current.backup,
            current.rotation.name if current.rotation else "",
            handoffs,
            reverse("ical-schedule", args=[schedule.feed_token]),
        )
        by_team.setdefault(schedule.team_id, (schedule.team, []))[1].append(entry)
    return list(by_team.values())


def user_feed_path(user) -> str:
    return reverse("ical-user", args=[user.feed_token])
