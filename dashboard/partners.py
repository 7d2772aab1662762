"""What the dashboard shows from the apps built beside it (comms, pir): the one module of
`dashboard` that reaches into them, through plain imports so the layering test
(tests/test_layering.py) sees every dependency. A function returns None only when there is
nothing to show (no channel this user may post on, no review yet)."""

from __future__ import annotations

from collections import defaultdict

from django.urls import reverse
from django.utils import timezone

from comms.models import Update
from comms.permissions import may_post_publicly
from comms.render import public_words_missing, update_draft
from comms.selectors import incident_conformance, obligations_open, update_list_for_incident
from comms.services import update_post
from comms.slack import slack_channel_for, slack_configured
from incidents.states import Severity
from pir.selectors import action_item_metrics, pir_for_incident, pir_list_for_user

CHANNEL_LABELS = {
    "status_page": "Status page",
    "internal": "Internal",
    "customer_email": "Customer email",
    "customer_first": "First customer communication",
}


def _channel_label(channel: str) -> str:
    label = CHANNEL_LABELS.get(channel, channel.replace("_", " ").capitalize())
    return label if channel == "customer_first" else f"{label} update"


def _due_from_obligations(incidents) -> dict[int, dict[str, object]]:
    """Pending communication deadlines per channel, from comms' obligations (6.3)."""
    due: dict[int, dict[str, object]] = defaultdict(dict)
    for incident in incidents:
        for obligation in obligations_open(incident):
            due[incident.pk].setdefault(obligation.channel, obligation.due_at)
    return due


def next_updates(user, incidents) -> dict[int, list[tuple[str, object]]]:
    """incident id -> [(label, due_at)]: when the next communication is due on each channel."""
    due = _due_from_obligations(incidents)
    return {
        incident_id: sorted(
            ((_channel_label(channel), at) for channel, at in channels.items()),
            key=lambda pair: pair[1],
        )
        for incident_id, channels in due.items()
    }


def slack_channel_state(incident) -> str:
    """Where the incident's channel stands in Slack (comms/slack.py), for its page."""
    if not slack_configured():
        return "not created in Slack: no Slack workspace is connected (SLACK_BOT_TOKEN)"
    if incident.drill:
        return "a drill has no Slack channel"
    channel = slack_channel_for(incident)
    if channel is None:
        return "not created in Slack: declared before the workspace was connected"
    if not channel.channel_id:
        return "being created in Slack"
    return "archived in Slack" if channel.archived_at else "open in Slack"


# --- the incident page's communications panel -------------------------------------------------
PUBLIC_CHANNELS = (Update.Channel.STATUS_PAGE, Update.Channel.CUSTOMER_EMAIL)


def comms_text_fixed(incident, channel: str) -> bool:
    """A security incident's public posts are its approved public words in the template:
    shown, not edited (comms refuses text of one's own there)."""
    return incident.security and channel in PUBLIC_CHANNELS


def _composer(user, incident, channel: str = "", template: str = "") -> dict | None:
    """The 6.2 templates prefilled from the incident (comms' draft), for the channels this
    user may post on; the template matching the incident's status comes first. A security
    incident's public channels are offered once its public words are approved; until then
    `public_blocked` says what is missing."""
    may_post = may_post_publicly(user, incident)
    blocked = public_words_missing(incident) if may_post else ""
    channels = [
        (value, label)
        for value, label in Update.Channel.choices
        if value not in PUBLIC_CHANNELS or (may_post and not blocked)
    ]
    values = [c for c, _ in channels]
    channel = channel if channel in values else values[0]
    template = template if template in Update.Template.values else str(incident.status)
    draft = update_draft(incident, channel, template, now=timezone.now())
    templates = sorted(Update.Template.choices, key=lambda c: c[0] != incident.status)
    return {
        "channels": channels,
        "templates": templates,
        "channel": channel,
        "template": template,
        "text": draft.text,
        "fixed": comms_text_fixed(incident, channel),
        "public_blocked": blocked,
    }


def comms_draft(user, incident, channel: str, template: str) -> dict | None:
    return _composer(user, incident, channel, template)


def comms_post(*, actor, incident_id, channel: str, template: str, text: str | None):
    return update_post(
        actor=actor, incident_id=incident_id, channel=channel, template=template, text=text
    )


def _conformance(incident) -> dict:
    report = incident_conformance(incident)
    return {
        "summary": report["summary"],
        "rows": [
            {**row, "label": f"{_channel_label(row['channel'])} #{row['sequence']}"}
            for row in report["obligations"]
        ],
    }


def incident_comms(user, incident) -> dict | None:
    """The communications panel of the incident page."""
    updates = update_list_for_incident(incident).order_by("-posted_at", "-id")
    return {
        "updates": list(updates[:10]),
        "next": next_updates(user, [incident]).get(incident.pk, []),
        "conformance": _conformance(incident),
        "composer": _composer(user, incident),
    }


# --- reports ----------------------------------------------------------------------------------
def _share(part, whole) -> float | None:
    return 100 * part / whole if whole else None


def _ratio(part, whole) -> str:
    return "—" if not whole else f"{100 * part / whole:.0f}%"


def _comms_report(incidents) -> dict:
    totals = {s: {"met": 0, "missed": 0, "pending": 0} for s in Severity.values}
    for incident in incidents:
        summary = incident_conformance(incident)["summary"]
        for key in ("met", "missed", "pending"):
            totals[incident.severity][key] += summary[key]
    return {
        "slug": "comms",
        "title": "Communications conformance (2.1, 6.3)",
        "description": "Communication deadlines met on time, missed, and still pending.",
        "columns": ["Severity", "Met", "Missed", "Pending", "Met on time"],
        "chart_series": "met on time",
        "chart_rows": [
            (sev, [_share(t["met"], t["met"] + t["missed"])]) for sev, t in totals.items()
        ],
        "rows": [
            [sev, t["met"], t["missed"], t["pending"], _ratio(t["met"], t["met"] + t["missed"])]
            for sev, t in totals.items()
        ],
    }


def _pir_report(user) -> dict:
    now = timezone.now()
    rows: dict[str, dict] = {s: {"total": 0, "published": 0, "overdue": 0} for s in Severity.values}
    for pir in pir_list_for_user(user).filter(incident__drill=False):
        row = rows[pir.incident.severity]
        row["total"] += 1
        row["published"] += pir.status == "published"
        row["overdue"] += pir.status != "published" and pir.due_at < now
    return {
        "slug": "pir",
        "title": "Post-incident reviews (8.1)",
        "description": "Reviews published, and those past their due time without being published.",
        "columns": ["Severity", "Reviews", "Published", "Overdue", "Completion"],
        "chart_series": "published",
        "chart_rows": [(sev, [_share(r["published"], r["total"])]) for sev, r in rows.items()],
        "rows": [
            [sev, r["total"], r["published"], r["overdue"], _ratio(r["published"], r["total"])]
            for sev, r in rows.items()
        ],
    }


def _action_report(user) -> dict:
    from .templatetags.dashboard_tags import human_duration

    metrics = action_item_metrics(user)
    rows = [
        [
            group.get("severity") or "All",
            group["total"],
            group["done"],
            group["open"],
            group["wont_do"],
            "—" if group["completion_rate"] is None else f"{100 * group['completion_rate']:.0f}%",
            human_duration(group["time_to_complete_p50_seconds"]),
        ]
        for group in [*metrics["by_severity"], {"severity": "All", **metrics["overall"]}]
    ]
    return {
        "slug": "actions",
        "title": "Action items (8.4)",
        "description": "Completion rate (done ÷ items not dropped) and median time to complete.",
        "columns": ["Severity", "Items", "Done", "Open", "Won't do", "Completion", "p50 time"],
        "chart_series": "completed",
        "chart_rows": [
            (
                group.get("severity") or "All",
                [None if group["completion_rate"] is None else 100 * group["completion_rate"]],
            )
            for group in [*metrics["by_severity"], {"severity": "All", **metrics["overall"]}]
        ],
        "rows": rows,
    }


def reports(user, incidents: list) -> list[dict]:
    """Further reports from comms and pir, each {slug, title, description, columns, rows}."""
    return [_comms_report(incidents), _pir_report(user), _action_report(user)]


def incident_pir(incident) -> dict | None:
    """The incident's post-incident review (8.1): status, due time and its page, when a
    review exists."""
    pir = pir_for_incident(incident)
    if pir is None:
        return None
    url = reverse("pir-page", args=[pir.pk])
    return {
        "status": pir.get_status_display(),
        "published": pir.status == "published",
        "due_at": pir.due_at,
        "url": url,
    }
