"""Reads. Reviews and action items are reached for a request only through the incidents the
user may see (`incidents.selectors.incident_list_for_user`), so a review of a restricted
security incident is restricted exactly like the incident: absent from lists, 404 by id."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from incidents.escalation import Recipients
from incidents.models import Incident, RoleAssignment, User
from incidents.selectors import incident_list_for_user, policy_for
from incidents.states import Role, Severity, Status

from .models import ActionItem, ActionStatus, PirTimelineEntry, PostIncidentReview


# --- access -----------------------------------------------------------------------------------
def pir_list_for_user(user) -> QuerySet[PostIncidentReview]:
    return PostIncidentReview.objects.filter(
        incident__in=incident_list_for_user(user)
    ).select_related("incident", "author")


def pir_get_for_user(user, pir_id) -> PostIncidentReview:
    """The review if `user` may see its incident, else Http404. `user=None`: the platform."""
    qs = PostIncidentReview.objects.all() if user is None else pir_list_for_user(user)
    try:
        return qs.select_related("incident", "author").get(pk=pir_id)
    except (PostIncidentReview.DoesNotExist, ValueError, TypeError):
        raise Http404("No post-incident review with that id.") from None


def action_items_for_user(user) -> QuerySet[ActionItem]:
    return ActionItem.objects.filter(incident__in=incident_list_for_user(user)).select_related(
        "pir", "incident", "owner__team"
    )


def action_item_get_for_user(user, pir: PostIncidentReview, item_id) -> ActionItem:
    try:
        return action_items_for_user(user).get(pk=item_id, pir=pir)
    except (ActionItem.DoesNotExist, ValueError, TypeError):
        raise Http404("No action item with that id on this review.") from None


def pir_entry_get(pir: PostIncidentReview, entry_id) -> PirTimelineEntry:
    try:
        return pir.entries.get(pk=entry_id)
    except (PirTimelineEntry.DoesNotExist, ValueError, TypeError):
        raise Http404("No timeline row with that id on this review.") from None


def pir_for_incident(incident: Incident) -> PostIncidentReview | None:
    return PostIncidentReview.objects.filter(incident=incident).first()


def pir_entries(pir: PostIncidentReview) -> QuerySet[PirTimelineEntry]:
    return pir.entries.order_by("occurred_at", "id")


def pir_action_items(pir: PostIncidentReview) -> QuerySet[ActionItem]:
    return pir.action_items.select_related("owner").order_by("priority", "due_date", "id")


# --- who comes to the review (8.1 "Attendees") ----------------------------------------------
def _person(user: User, why: str) -> dict:
    return {"username": user.username, "name": str(user), "why": why}


def pir_attendees(pir: PostIncidentReview) -> dict:
    """The attendees the severity calls for: the policy's words (pir_attendees), everyone who
    held a role on the incident (relieved holders too), the author, and, where the policy
    names management, the Engineering Manager of the affected teams; where it names the
    owning team, that team's members."""
    incident = pir.incident
    policy = policy_for(incident.severity)
    wanted = policy.pir_attendees.lower()
    people: dict[int, dict] = {}
    roles = RoleAssignment.objects.filter(incident=incident).select_related("user")
    for assignment in roles.order_by("assigned_at", "id"):
        people.setdefault(assignment.user_id, _person(assignment.user, Role(assignment.role).label))
    if pir.author is not None:
        people.setdefault(pir.author_id, _person(pir.author, "PIR author"))
    if "management" in wanted:
        managers, _note = Recipients(incident.resolved_at or pir.created_at).resolve(
            "engineering_manager", incident
        )
        for manager in managers:
            people.setdefault(manager.pk, _person(manager, "Management (Engineering Manager)"))
    if "owning team" in wanted:
        team_ids = {s.team_id for s in incident.services.all() if s.team_id}
        for member in User.objects.filter(team_id__in=team_ids, is_active=True).order_by("id"):
            people.setdefault(member.pk, _person(member, "Owning team"))
    return {"policy": policy.pir_attendees, "people": list(people.values())}


# --- the incident's phases (for the chart) ---------------------------------------------------
PHASES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)


def incident_phases(incident: Incident) -> list[dict]:
    """[{phase, start, end}] from detection to resolution, walked along the incident's status
    changes (reopen and "fix did not hold" included); milestones when there are none."""
    events = list(
        incident.timeline.filter(kind__in=["status_changed", "reopened"])
        .order_by("occurred_at", "id")
        .values("occurred_at", "data")
    )
    end = incident.resolved_at
    segments: list[dict] = []
    if events:
        status, since = Status.INVESTIGATING, incident.detected_at
        for event in events:
            to = event["data"].get("to")
            if status in PHASES and event["occurred_at"] > since:
                segments.append({"phase": str(status), "start": since, "end": event["occurred_at"]})
            status, since = to, event["occurred_at"]
        if status in PHASES and end and end > since:
            segments.append({"phase": str(status), "start": since, "end": end})
        return segments
    marks = [
        (Status.INVESTIGATING, incident.detected_at),
        (Status.IDENTIFIED, incident.identified_at),
        (Status.MONITORING, incident.mitigated_at),
        (Status.RESOLVED, incident.resolved_at),
    ]
    known = [(s, t) for s, t in marks if t is not None]
    for (status, start), (_next, stop) in itertools.pairwise(known):
        segments.append({"phase": str(status), "start": start, "end": stop})
    return segments


# --- action item metrics (8.4) ---------------------------------------------------------------
def _summary(rows: list[dict]) -> dict:
    done = [r for r in rows if r["status"] == ActionStatus.DONE]
    wont = sum(1 for r in rows if r["status"] == ActionStatus.WONT_DO)
    decided = len(rows) - wont
    seconds = sorted(
        int((r["completed_at"] - r["created_at"]).total_seconds())
        for r in done
        if r["completed_at"]
    )
    return {
        "total": len(rows),
        "done": len(done),
        "wont_do": wont,
        "open": len(rows) - len(done) - wont,
        "completion_rate": round(len(done) / decided, 4) if decided else None,
        "time_to_complete_p50_seconds": int(statistics.median(seconds)) if seconds else None,
        "time_to_complete_mean_seconds": int(statistics.fmean(seconds)) if seconds else None,
    }


def action_item_metrics(user, *, since: datetime | None = None) -> dict:
    """Completion rate (done ÷ items not dropped as "won't do") and time to complete (created
    to done, seconds) overall, by incident severity and by the owner's team."""
    qs = action_items_for_user(user)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    rows = list(
        qs.values("status", "created_at", "completed_at", "incident__severity", "owner__team__slug")
    )
    by_severity, by_team = defaultdict(list), defaultdict(list)
    for row in rows:
        by_severity[row["incident__severity"]].append(row)
        by_team[row["owner__team__slug"] or "unassigned"].append(row)
    return {
        "overall": _summary(rows),
        "by_severity": [
            {"severity": sev, **_summary(by_severity[sev])}
            for sev in Severity.values
            if sev in by_severity
        ],
        "by_team": [{"team": team, **_summary(by_team[team])} for team in sorted(by_team)],
    }


def pir_detail_for_user(user, pir_id) -> PostIncidentReview:
    """One review with what the detail shows beside its fields: its rows and action items,
    the required sections still empty, and where it may move next."""
    from .sections import pir_missing_sections

    pir = pir_get_for_user(user, pir_id)
    pir = (
        PostIncidentReview.objects.select_related("incident", "author")
        .prefetch_related(
            Prefetch("entries", queryset=PirTimelineEntry.objects.order_by("occurred_at", "id")),
            Prefetch(
                "action_items",
                queryset=ActionItem.objects.select_related("owner", "pir", "incident"),
            ),
        )
        .get(pk=pir.pk)
    )
    pir.missing_sections = pir_missing_sections(pir)
    pir.allowed_transitions = [
        str(t.target) for t in pir.get_all_status_transitions() if t.source == pir.status
    ]
    return pir
