"""The incident's Slack channel (procedures 6.1, Appendix A), through Slack's own client
library (`slack_sdk`) with the bot token SLACK_BOT_TOKEN.

What follows a timeline event (reactions registered in comms/apps.py), as Web API calls
written as outbox rows in the event's transaction (kind "slack-call": durable, retried with
backoff, in order per incident, a final failure noted on the timeline):

- declared: create the channel (the 6.1 name; private for a security incident), set its
  topic, post the incident, status page and bridge links and pin them, invite the declarer
  and the role holders who linked their Slack user, and announce it in SLACK_ANNOUNCE_CHANNEL
  with Acknowledge and Open buttons (comms/chatops.py answers the buttons);
- a role assigned: invite the holder; a status, severity or acknowledgement change: post it
  and (status, severity) refresh the topic; an internal update (6.1 template): post its text;
- the channel closed (24 h after resolution, Appendix A): archive it.

A restricted (security) incident's words never reach Slack: its posts, topic and
announcement are the redacted form (incidents.redaction), like every chat answer. Drills and
incidents declared while no token was set send nothing. Without SLACK_BOT_TOKEN nothing is
written at all, and the incident page says the channel is not created.

Slack's API host is the operator's setting, not a URL someone entered, so the calls go out
through slack_sdk's own HTTP client rather than the outbound client's address checks.
"""

from __future__ import annotations

import logging
import urllib.error

from django.conf import settings
from django.utils import timezone

from incidents.models import Incident, TimelineEvent
from incidents.notify import Outcome, retry_after_seconds
from incidents.outbox import RetryPolicy, outbox_rows_write, register_outbox_kind
from incidents.redaction import Message, incident_message, incident_url
from incidents.rules import bridge_or_none
from incidents.selectors import incident_active_roles, policy_settings
from incidents.services.timeline import timeline_delivery_failed
from incidents.states import Role, Severity, Status, TimelineKind

from .models import ChatIdentity, SlackCall, SlackChannel, Update

log = logging.getLogger(__name__)

KIND = "slack-call"
# 8 tries, 2 s doubling to 5 min (never sooner than Slack's Retry-After).
POLICY = RetryPolicy(
    attempts=8, base_seconds=2, cap_seconds=300, lease_seconds=60, requeue_grace_seconds=15
)
CHANNEL, LINKS_TS = "@channel", "@links_ts"  # stand for the SlackChannel's values
# Slack's answer when a call's effect is already there (a try whose answer was lost).
ALREADY_DONE = {
    "conversations.create": {"name_taken"},
    "conversations.invite": {"already_in_channel"},
    "pins.add": {"already_pinned"},
    "conversations.archive": {"already_archived"},
}
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}
ACK_ACTION = "acknowledge"


def slack_configured() -> bool:
    return bool(settings.SLACK_BOT_TOKEN)


def slack_channel_for(incident: Incident) -> SlackChannel | None:
    return SlackChannel.objects.filter(incident=incident).first()


# --- what is said -------------------------------------------------------------------------------
def _redacted(incident: Incident, text: str) -> str:
    """What a channel may read: about a restricted incident, the redacted form."""
    return incident_message(incident, Message("", text)).body


def _topic(incident: Incident) -> str:
    holders = incident_active_roles(incident)
    ic = next((r.user.username for r in holders if r.role == Role.INCIDENT_COMMANDER), "none")
    text = (
        f"{incident.reference} {incident.severity} · {Status(incident.status).label} · "
        f"IC {ic} · {incident_url(incident)}"
    )
    return _redacted(incident, text)[:250]


def _links(incident: Incident) -> str:
    status_page = policy_settings().status_page_url or "(none configured)"
    return _redacted(
        incident,
        f"*{incident.reference}: {incident.title}* ({Severity(incident.severity).label})\n"
        f"Incident: {incident_url(incident)}\n"
        f"Status page: {status_page}\n"
        f"Bridge: {bridge_or_none(incident)}",
    )


def _announcement(incident: Incident, name: str) -> tuple[str, list[dict]]:
    text = _redacted(
        incident,
        f":rotating_light: {incident.reference} [{incident.severity}] {incident.title} "
        f"declared. Join #{name}.",
    )
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "block_id": f"incident-{incident.pk}",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACK_ACTION,
                    "text": {"type": "plain_text", "text": "Acknowledge"},
                    "value": str(incident.pk),
                    "style": "danger",
                },
                {
                    "type": "button",
                    "action_id": "open",
                    "text": {"type": "plain_text", "text": "Open the incident"},
                    "url": incident_url(incident),
                },
            ],
        },
    ]
    return text, blocks


def _slack_users(users) -> list[str]:
    """The Slack user ids linked to `users` (active accounts only)."""
    return list(
        ChatIdentity.objects.filter(user__in=users, user__is_active=True)
        .order_by("slack_user_id")
        .values_list("slack_user_id", flat=True)
        .distinct()
    )


# --- the reactions ------------------------------------------------------------------------------
def _queue(incident: Incident, event: TimelineEvent, calls: list[tuple[str, dict, dict]]) -> None:
    """Write the calls (method, args, payload) as rows, in order, and hand them over after
    commit. A re-run of the same event writes nothing new (the keys are taken)."""
    now = timezone.now()
    rows = [
        SlackCall(
            incident=incident,
            method=method,
            args=args,
            payload=payload,
            idempotency_key=f"slack:i{incident.pk}:e{event.pk}:{index}",
            created_at=now,
            next_attempt_at=now,
        )
        for index, (method, args, payload) in enumerate(calls)
    ]
    outbox_rows_write(KIND, rows)


def slack_on_declared(incident: Incident, event: TimelineEvent) -> None:
    if not slack_configured() or incident.drill:
        return
    name = incident.channel_name.lstrip("#")
    SlackChannel.objects.get_or_create(
        incident=incident, defaults={"name": name, "private": incident.security}
    )
    people = [r.user for r in incident_active_roles(incident)]
    if event.actor is not None:
        people.append(event.actor)
    text, blocks = _announcement(incident, name)
    calls = [
        ("conversations.create", {"name": name, "is_private": incident.security}, {}),
        ("conversations.setTopic", {"channel": CHANNEL, "topic": _topic(incident)}, {}),
        (
            "chat.postMessage",
            {"channel": CHANNEL, "text": _links(incident), "unfurl_links": False},
            {"remember": "links_ts"},
        ),
        ("pins.add", {"channel": CHANNEL, "timestamp": LINKS_TS}, {}),
    ]
    users = _slack_users(people)
    if users:
        calls.append(("conversations.invite", {"channel": CHANNEL, "users": users}, {}))
    calls.append(
        (
            "chat.postMessage",
            {"channel": settings.SLACK_ANNOUNCE_CHANNEL, "text": text, "blocks": blocks},
            {},
        )
    )
    _queue(incident, event, calls)


def slack_on_incident_event(incident: Incident, event: TimelineEvent) -> None:
    """Everything after the declaration, for an incident whose channel was asked for."""
    if not slack_configured() or incident.drill or slack_channel_for(incident) is None:
        return
    calls: list[tuple[str, dict, dict]] = []
    if event.kind == TimelineKind.CHANNEL_CLOSED:
        calls.append(("conversations.archive", {"channel": CHANNEL}, {"remember": "archived"}))
    elif event.kind == TimelineKind.INTERNAL_UPDATE_POSTED:
        update = Update.objects.filter(pk=(event.data or {}).get("update")).first()
        text = update.text if update is not None else event.text
        calls.append(
            ("chat.postMessage", {"channel": CHANNEL, "text": _redacted(incident, text)}, {})
        )
    else:
        if event.kind == TimelineKind.ROLE_ASSIGNED:
            holder = (event.data or {}).get("user")
            users = _slack_users(
                [r.user for r in incident_active_roles(incident) if r.user.username == holder]
            )
            if users:
                calls.append(("conversations.invite", {"channel": CHANNEL, "users": users}, {}))
        who = f" ({event.actor.username})" if event.actor is not None else ""
        post = _redacted(incident, f"{event.text}{who}")
        calls.append(("chat.postMessage", {"channel": CHANNEL, "text": post}, {}))
        if event.kind in TOPIC_CHANGES or (event.data or {}).get("role") == Role.INCIDENT_COMMANDER:
            calls.append(
                ("conversations.setTopic", {"channel": CHANNEL, "topic": _topic(incident)}, {})
            )
    if calls:
        _queue(incident, event, calls)


# Events that change what the topic says (severity, status, the IC).
TOPIC_CHANGES = (TimelineKind.STATUS_CHANGED, TimelineKind.SEVERITY_CHANGED, TimelineKind.REOPENED)
FOLLOWED = (
    TimelineKind.ROLE_ASSIGNED,
    TimelineKind.STATUS_CHANGED,
    TimelineKind.REOPENED,
    TimelineKind.SEVERITY_CHANGED,
    TimelineKind.ACKNOWLEDGED,
    TimelineKind.INTERNAL_UPDATE_POSTED,
    TimelineKind.CHANNEL_CLOSED,
)


# --- the sender ---------------------------------------------------------------------------------
def _client():
    """slack_sdk's client, imported here rather than at start-up (~0.1 s that only the
    workers sending Slack calls pay). No retry handlers: the outbox retries with its backoff
    and records every try."""
    from slack_sdk import WebClient

    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=max(1, int(settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS)),
        retry_handlers=[],
    )


def _resolved(args: dict, channel: SlackChannel | None) -> dict:
    values = {
        CHANNEL: channel.channel_id if channel else "",
        LINKS_TS: channel.links_ts if channel else "",
    }
    resolved = {}
    for name, value in args.items():
        if isinstance(value, str) and value in values:
            if not values[value]:
                what = "channel" if value == CHANNEL else "pinned message"
                raise LookupError(f"the incident's Slack {what} was never created")
            value = values[value]
        resolved[name] = value
    return resolved


def _find_channel(client, name: str) -> str | None:
    """The id of the channel called `name` that the bot can see (after a lost answer to
    conversations.create, Slack says the name is taken: by our own channel)."""
    cursor = None
    while True:
        page = client.conversations_list(
            types="public_channel,private_channel", limit=200, cursor=cursor
        )
        for found in page.get("channels", []):
            if found.get("name") == name:
                return found["id"]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None


class SlackCallSender:
    def send(self, call: SlackCall) -> Outcome:
        from slack_sdk.errors import SlackApiError

        channel = slack_channel_for(call.incident)
        try:
            args = _resolved(call.args, channel)
        except LookupError as missing:
            return Outcome(ok=False, retryable=False, error=str(missing))
        client = _client()
        try:
            response = getattr(client, call.method.replace(".", "_"))(**args)
            answer = response.data
        except SlackApiError as refused:
            error = refused.response.get("error", "") if refused.response else ""
            if error not in ALREADY_DONE.get(call.method, ()):
                return _refused(call, refused, error)
            answer = {}
            if call.method == "conversations.create":
                found = _find_channel(client, args["name"])
                if found is None:
                    return Outcome(
                        ok=False,
                        error=f"Slack conversations.create: #{args['name']} is taken by a "
                        "channel the bot cannot see",
                    )
                answer = {"channel": {"id": found}}
        except (urllib.error.URLError, OSError) as unreachable:
            return Outcome(ok=False, retryable=True, error=f"Slack unreachable: {unreachable}")
        _remember(call, channel, answer)
        return Outcome(ok=True, code=200)

    def final_failure(self, call: SlackCall, outcome: Outcome) -> None:
        timeline_delivery_failed(
            call.incident,
            TimelineKind.NOTE,
            f"Slack {call.method} failed after {call.attempts} attempt(s)",
            row=call,
            row_key="slack_call",
            outcome=outcome,
        )


def _refused(call: SlackCall, refused, error: str) -> Outcome:
    """Slack's refusal (a slack_sdk SlackApiError) as an Outcome."""
    status = refused.response.status_code if refused.response else None
    headers = {k.lower(): v for k, v in (refused.response.headers or {}).items()}
    retry_after = retry_after_seconds(str(headers.get("retry-after", "")))
    retryable = status == 429 or (status or 0) >= 500 or error in RETRYABLE_ERRORS
    return Outcome(
        ok=False,
        retryable=retryable,
        code=status,
        error=f"Slack {call.method}: {error or f'HTTP {status}'}",
        retry_after=retry_after,
    )


def _remember(call: SlackCall, channel: SlackChannel | None, answer: dict) -> None:
    """What Slack's answer tells later calls: the channel's id, the pinned message."""
    if channel is None:
        return
    now = timezone.now()
    if call.method == "conversations.create":
        SlackChannel.objects.filter(pk=channel.pk).update(
            channel_id=answer["channel"]["id"], created_at=now
        )
    elif call.payload.get("remember") == "links_ts":
        SlackChannel.objects.filter(pk=channel.pk).update(links_ts=answer.get("ts", ""))
    elif call.payload.get("remember") == "archived":
        SlackChannel.objects.filter(pk=channel.pk).update(archived_at=now)


def register() -> None:
    """Called from CommsConfig.ready()."""
    register_outbox_kind(
        KIND,
        model=SlackCall,
        sender=SlackCallSender(),
        policy=POLICY,
        select_related=("incident",),
        incident_path="incident",
        ordering_key=("incident_id",),
    )
