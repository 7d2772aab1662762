"""The procedures' communication templates (6.1 internal status update, 6.2 status page and
customer email), prefilled from the incident. Django templates under templates/comms/updates/
hold the wording; this module only gathers the values. Every interval comes from the policy in
force (`policy_for`), never from a literal here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.template.loader import render_to_string

from incidents.errors import RuleViolation
from incidents.models import Incident
from incidents.redaction import incident_public_ready, incident_public_title
from incidents.selectors import (
    incident_active_roles,
    incident_is_restricted,
    policy_for,
    policy_settings,
)
from incidents.states import Role, Status, TimelineKind

from .models import Update

# Timeline kinds that read as "actions taken" in an internal update (6.1).
ACTION_KINDS = (
    TimelineKind.DECLARED,
    TimelineKind.ACKNOWLEDGED,
    TimelineKind.STATUS_CHANGED,
    TimelineKind.REOPENED,
    TimelineKind.SEVERITY_CHANGED,
    TimelineKind.ESCALATED,
    TimelineKind.ESCALATION_REQUESTED,
    TimelineKind.PAGED,
    TimelineKind.NOTE,
)
ACTIONS_SHOWN = 6  # the most recent ones: an update is read in a glance, the timeline has all

NEXT_ACTION = {
    Status.INVESTIGATING: "Identify the cause",
    Status.IDENTIFIED: "Implement and deploy the fix",
    Status.MONITORING: "Confirm the fix holds through the stability window",
    Status.RESOLVED: "Hold the post-incident review",
}
DOING = {
    Status.INVESTIGATING: "Our engineers are investigating the cause of the issue.",
    Status.IDENTIFIED: "We have identified the cause and are implementing a fix.",
    Status.MONITORING: "A fix has been implemented and we are monitoring the results.",
    Status.RESOLVED: "The issue has been resolved.",
}
# What a template says when the incident does not have the value yet; the draft is editable.
FALLBACK_SYMPTOMS = "errors or degraded performance"
FALLBACK_IMPACT = "We are assessing the impact."
FALLBACK_WORKAROUND = "None available at this time"
FALLBACK_ACTION = "contact TenSafe support"
CUSTOMER_PLACEHOLDER = "[Customer]"


@dataclass(frozen=True)
class Draft:
    channel: str
    template: str
    subject: str
    text: str


def utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def utc_time(at: datetime) -> str:
    return f"{at.astimezone(UTC):%H:%M} UTC"


def humanize_minutes(minutes: int) -> str:
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    if minutes > 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def humanize_duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min"


def cadence_minutes(incident: Incident, channel: str) -> int | None:
    """How soon the next update on `channel` is due after one is posted (6.3), or None.
    A status page without a cadence of its own (P3: initial + resolved) promises the
    severity's general update interval ("Updates every 4 hours", 2.1)."""
    policy = policy_for(incident.severity)
    if channel == Update.Channel.STATUS_PAGE:
        if policy.status_page_mode == "cadence" and policy.status_page_every_minutes:
            return policy.status_page_every_minutes
        return policy.internal_every_minutes
    if channel == Update.Channel.INTERNAL:
        return policy.internal_every_minutes
    if policy.customer_email_mode == "cadence":
        return policy.customer_email_every_minutes
    return None


def _service_names(incident: Incident) -> str:
    return ", ".join(s.name for s in incident.services.all()) or "TenSafe services"


def _sentence_part(text: str) -> str:
    """A field dropped into the middle of a sentence: no trailing full stop of its own."""
    return text.strip().rstrip(".").strip()


def _common(incident: Incident, channel: str, state: str, now: datetime) -> dict:
    every = cadence_minutes(incident, channel)
    end = incident.resolved_at or now
    return {
        "incident": incident,
        "service_names": _service_names(incident),
        "symptoms": _sentence_part(incident.symptoms) or FALLBACK_SYMPTOMS,
        "issue": _sentence_part(incident.symptoms) or _sentence_part(incident.title),
        "impact": incident.impact.strip() or FALLBACK_IMPACT,
        "workaround": incident.workaround.strip() or FALLBACK_WORKAROUND,
        "action": FALLBACK_ACTION,
        "state": Status(state).label,
        "posted": utc(now),
        "next_update": humanize_minutes(every) if every and state != Status.RESOLVED else "",
        "next_update_at": now + timedelta(minutes=every) if every else None,
        "start": utc(incident.detected_at),
        "end": utc(end),
        "duration": humanize_duration(end - incident.detected_at),
        "review": policy_for(incident.severity).pir_required != "none",
    }


def _actions(incident: Incident) -> list[str]:
    events = list(
        incident.timeline.filter(kind__in=ACTION_KINDS).order_by("-occurred_at", "-id")[
            :ACTIONS_SHOWN
        ]
    )
    return [f"{utc_time(e.occurred_at)} {e.text}" for e in reversed(events)]


def _internal(incident: Incident, context: dict, state: str, now: datetime) -> str:
    holders = {a.role: a.user for a in incident_active_roles(incident) if a.role != Role.SME}
    owner = holders.get(Role.TECH_LEAD) or holders.get(Role.INCIDENT_COMMANDER)
    next_at = context["next_update_at"]
    summary = (
        f"{incident.reference} {incident.title}: {incident.severity}, "
        f"{Status(state).label.lower()}, {humanize_duration(now - incident.detected_at)} "
        "since detection."
    )
    if incident.description.strip():
        summary += f" {incident.description.strip()}"
    return render_to_string(
        "comms/updates/internal.txt",
        {
            **context,
            "time": utc_time(now),
            "summary": summary,
            "actions": _actions(incident) or ["None recorded yet"],
            "next_action": NEXT_ACTION[state],
            "owner": owner.username if owner else "unassigned",
            "eta": utc_time(next_at) if next_at else "TBD",
            "impact": incident.impact.strip() or FALLBACK_IMPACT,
            "next_update": utc_time(next_at) if next_at else "As needed",
        },
    ).strip()


def _email_doing_and_frequency(incident: Incident, state: str, now: datetime) -> tuple[str, str]:
    """The customer email's "what we're doing" (with the duration once resolved) and how
    often customers will hear from us (6.3)."""
    every = cadence_minutes(incident, Update.Channel.CUSTOMER_EMAIL)
    if state != Status.RESOLVED and every:
        frequency = f"intervals of no more than {humanize_minutes(every)}"
    else:
        frequency = "the conclusion of our post-incident review"
    doing = DOING[state]
    if state == Status.RESOLVED:
        end = incident.resolved_at or now
        doing = (
            f"{doing} It lasted {humanize_duration(end - incident.detected_at)} "
            f"({utc(incident.detected_at)} to {utc(end)})."
        )
    return doing, frequency


def _customer_email(
    incident: Incident, context: dict, state: str, now: datetime
) -> tuple[str, str]:
    doing, frequency = _email_doing_and_frequency(incident, state, now)
    subject = render_to_string(
        "comms/updates/customer_email_subject.txt", {"brief": incident.title}
    ).strip()
    body = render_to_string(
        "comms/updates/customer_email.txt",
        {
            **context,
            "start": utc(incident.started_at or incident.detected_at),
            "doing": doing,
            "customer_action": incident.workaround.strip()
            or "No action is required from you at this time.",
            "frequency": frequency,
            "status_page_url": policy_settings().status_page_url,
        },
    ).strip()
    return subject, body


# --- a security incident's public posts (2.1, 6.2) ---------------------------------------------
PUBLIC_WORDS_RULE = (
    "Security incidents: the status page and customer email say only the public title and "
    "text the security group approved"
)


def public_words_missing(incident: Incident) -> str:
    """What a security incident still needs before the status page or customer email may
    speak of it ("" when nothing: an ordinary incident, or its public words approved)."""
    if incident_public_ready(incident):
        return ""
    return (
        f"{incident.reference} is a security incident: the status page and customer email may "
        "say only a public title and text approved by the security group, and none is approved "
        "yet. The security group (or the security lead) approves them on the incident page "
        f"or with POST /api/v1/incidents/{incident.pk}/public-text/; the communication "
        "deadlines keep running meanwhile."
    )


def require_public_words(incident: Incident) -> None:
    missing = public_words_missing(incident)
    if missing:
        raise RuleViolation(missing, rule=PUBLIC_WORDS_RULE, field="channel")


def _restricted_public_draft(incident: Incident, channel: str, state: str, now: datetime) -> Draft:
    """A security incident's status page post or customer email, from its approved public
    title and text and the times alone: never its title, services, symptoms, impact or
    workaround (the context below holds nothing else)."""
    require_public_words(incident)
    every = cadence_minutes(incident, channel)
    context = {
        "public_title": incident_public_title(incident),
        "public_text": incident.public_text,
        "state": Status(state).label,
        "posted": utc(now),
        "next_update": humanize_minutes(every) if every and state != Status.RESOLVED else "",
        "start": utc(incident.started_at or incident.detected_at),
        "status_page_url": policy_settings().status_page_url,
    }
    if channel == Update.Channel.STATUS_PAGE:
        text = render_to_string("comms/updates/status_page_restricted.txt", context).strip()
        return Draft(channel, state, text.splitlines()[0], text)
    doing, frequency = _email_doing_and_frequency(incident, state, now)
    subject = render_to_string(
        "comms/updates/customer_email_subject.txt", {"brief": context["public_title"]}
    ).strip()
    body = render_to_string(
        "comms/updates/customer_email_restricted.txt",
        {**context, "doing": doing, "frequency": frequency},
    ).strip()
    return Draft(channel, state, subject, body)


def update_draft(
    incident: Incident, channel: str, template: str | None = None, *, now: datetime
) -> Draft:
    """The prefilled text for `channel`, in the state `template` names (default: the
    incident's current status, so each transition offers the matching template). A security
    incident's public channels say only its approved public words (RuleViolation until the
    security group approved them)."""
    state = template or incident.status
    if channel != Update.Channel.INTERNAL and incident_is_restricted(incident):
        return _restricted_public_draft(incident, channel, state, now)
    context = _common(incident, channel, state, now)
    if channel == Update.Channel.INTERNAL:
        return Draft(channel, state, "", _internal(incident, context, state, now))
    if channel == Update.Channel.CUSTOMER_EMAIL:
        subject, body = _customer_email(incident, context, state, now)
        return Draft(channel, state, subject, body)
    text = render_to_string(f"comms/updates/status_page_{state}.txt", context).strip()
    return Draft(channel, state, text.splitlines()[0], text)
