"""Slack slash commands (procedures 9.3) at `POST /chatops/slack/`.

Requests are verified with Slack's v0 signature (HMAC-SHA256 of `v0:{timestamp}:{raw body}`
with SLACK_SIGNING_SECRET); a bad signature, a timestamp more than five minutes off, or a
(timestamp, signature) accepted before (a replay, recorded in the database for every web
process) is a 401. Each Slack user (workspace and user id) may run TENSAFE_RATE_CHAT
commands; over it they are told to slow down and nothing happens.

The Slack user acts only as the person who linked that workspace's user id (`ChatIdentity`);
Slack's `user_name` is the Slack user's own choice and names nobody. An unlinked Slack user's
command is answered a one-time link to complete in the browser, and nothing else happens
(comms/services/identities.py). Every command writes through the core's and this app's
services, so the same permissions apply as in the API. Slack wants an answer within three
seconds: everything answers at once except declaring, which is queued for a worker and
answered in the channel through `response_url`.

    /incident declare "description" severity=P1 [services=api-gateway,auth]
    /incident ack                      (in the incident channel, or add INC-42)
    /incident status
    /status update "message" [state=investigating]
    /pd page @username "reason"

Buttons on the platform's Slack messages (comms/slack.py: Acknowledge on a declaration's
announcement) post to `POST /chatops/slack/interactions/`, verified the same way, and act
exactly as the matching command would (`/incident ack INC-42`) for the same linked person,
under the same limits; the answer goes to the clicking user alone through `response_url`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents import services as incident_services
from incidents.errors import RuleViolation, TransitionRefused
from incidents.models import Incident, Service, User
from incidents.ratelimit import slot_take
from incidents.redaction import Message, incident_message
from incidents.rules import bridge_or_none
from incidents.selectors import (
    incident_active_roles,
    incident_get_for_user,
    incident_list_for_user,
)
from incidents.states import Role, Severity, Status

from . import services
from .deadlines import LABELS
from .models import Update
from .permissions import require_may_declare_from_chat
from .render import humanize_duration, utc_time
from .selectors import chat_identity_for_slack_user, chat_user, obligations_open

SLACK_MAX_AGE_SECONDS = 5 * 60  # Slack's advice: older requests may be replays
USAGE = {
    "/incident": (
        '`/incident declare "description" severity=P1` (optionally `services=api-gateway,auth`), '
        "`/incident ack`, `/incident status`"
    ),
    "/status": '`/status update "message" state=investigating`',
    "/pd": '`/pd page @username "reason"`',
}
WHERE = "Run it in the incident's channel (#inc-…) or name the incident, e.g. `INC-42`."
TOKEN = re.compile(r'"([^"]*)"|(\S+)')
OPTION = re.compile(r"^([a-z_]+)=(.*)$")
REFERENCE = re.compile(r"^INC-(\d+)$", re.IGNORECASE)
SLACK_MENTION = re.compile(r"^<@(\w+)(?:\|([^>]+))?>$")
SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"'})


class CommandError(Exception):
    """A mistake in the command: answered to the user alone, with the usage."""


@dataclass
class Command:
    name: str
    user: User
    form: dict
    words: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    references: list[int] = field(default_factory=list)

    def fail(self, problem: str):
        raise CommandError(f"{problem}\nUsage: {USAGE[self.name]}")


def ephemeral(text: str) -> dict:
    return {"response_type": "ephemeral", "text": text}


def in_channel(text: str) -> dict:
    return {"response_type": "in_channel", "text": text}


def in_channel_about(incident: Incident, text: str) -> dict:
    """An answer everyone in the channel reads: not a user, so about a restricted incident
    it is the redacted form (incidents.redaction)."""
    return in_channel(incident_message(incident, Message("", text)).body)


# --- verification --------------------------------------------------------------------------------
def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_request_problem(request) -> str | None:
    """Why the request is not a genuine, fresh Slack request seen for the first time; None
    when it is (and then its signature is recorded, so it is never accepted again)."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        return "Slack commands are not configured (SLACK_SIGNING_SECRET is unset)."
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        return "Missing Slack signature headers."
    if abs(time.time() - int(timestamp)) > SLACK_MAX_AGE_SECONDS:
        return "Stale request: its timestamp is more than five minutes off (possible replay)."
    if not hmac.compare_digest(slack_signature(secret, timestamp, request.body), signature):
        return "Bad Slack signature."
    if not services.chat_request_claim(
        timestamp=int(timestamp), signature=signature, max_age_seconds=SLACK_MAX_AGE_SECONDS
    ):
        return "Replayed request: this signature was already accepted (possible replay)."
    return None


# --- parsing -------------------------------------------------------------------------------------
def parse(name: str, user: User, form: dict) -> Command:
    text = form.get("text", "").translate(SMART_QUOTES)
    command = Command(name, user, form)
    if text.count('"') % 2:
        command.fail("A quote is not closed.")
    for match in TOKEN.finditer(text):
        quoted, bare = match.group(1), match.group(2)
        if quoted is not None:
            command.words.append(quoted)
        elif OPTION.match(bare):
            key, value = OPTION.match(bare).groups()
            command.options[key] = value
        elif REFERENCE.match(bare):
            command.references.append(int(REFERENCE.match(bare).group(1)))
        else:
            command.words.append(bare)
    return command


def _only_options(command: Command, allowed: set[str]) -> None:
    unknown = sorted(set(command.options) - allowed)
    if unknown:
        command.fail(f"Unknown option(s): {', '.join(unknown)}.")


def _incident(command: Command) -> Incident:
    if command.references:
        reference = command.references[0]
        try:
            return incident_get_for_user(command.user, reference)
        except Http404:
            raise CommandError(f"No incident INC-{reference} that you can see.") from None
    channel = command.form.get("channel_name", "").lstrip("#")
    if channel:
        incident = incident_list_for_user(command.user).filter(channel_name=f"#{channel}").first()
        if incident is not None:
            return incident
    raise CommandError(f"This is not an incident channel. {WHERE}")


def _text(command: Command, words: list[str], what: str, example: str) -> str:
    text = " ".join(w for w in words).strip()
    if not text:
        command.fail(f"Say {what}, in quotes: {example}.")
    return text


# --- commands ------------------------------------------------------------------------------------
def _declare(command: Command, key: str) -> dict:
    _only_options(command, {"severity", "services"})
    description = _text(command, command.words[1:], "what is happening", '"API returning 502s"')
    severity = command.options.get("severity", "").upper()
    if severity not in Severity.values:
        command.fail(f"severity=P1…P4 is required ({', '.join(Severity.values)}).")
    slugs = [s for s in command.options.get("services", "").split(",") if s]
    known = set(Service.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    if set(slugs) - known:
        command.fail(f"Unknown service(s): {', '.join(sorted(set(slugs) - known))}.")
    require_may_declare_from_chat(command.user)
    _, created = services.chat_command_queue(
        key=key,
        user=command.user,
        slack_user_id=command.form.get("user_id", ""),
        command="/incident declare",
        text=command.form.get("text", ""),
        args={"description": description, "severity": severity, "services": slugs},
        response_url=command.form.get("response_url", ""),
    )
    if not created:
        return ephemeral("Already on it: this declaration was received before.")
    return ephemeral(
        f"Declaring {severity}: “{description}”… the incident will be posted here when it is open."
    )


def _ack(command: Command) -> dict:
    incident = _incident(command)
    if incident.acknowledged_at is not None:
        who = incident.acknowledged_by.username if incident.acknowledged_by else "the platform"
        return ephemeral(
            f"{incident.reference} was already acknowledged by {who} at "
            f"{utc_time(incident.acknowledged_at)}."
        )
    incident_services.incident_acknowledge(actor=command.user, incident_id=incident.pk, via="slack")
    return in_channel_about(
        incident, f"{incident.reference} acknowledged by @{command.user.username}."
    )


def _status_text(incident: Incident) -> str:
    holders = {a.role: a.user for a in incident_active_roles(incident) if a.role != Role.SME}
    roles = ", ".join(
        f"{Role(role).label}: @{holders[role].username}"
        for role in (Role.INCIDENT_COMMANDER, Role.TECH_LEAD, Role.COMMS_LEAD)
        if role in holders
    )
    age = humanize_duration(timezone.now() - incident.detected_at)
    lines = [
        f"*{incident.reference}* {incident.title}",
        f"{incident.severity} · {Status(incident.status).label} · detected "
        f"{utc_time(incident.detected_at)} ({age} ago) · "
        + ("acknowledged" if incident.acknowledged_at else "NOT acknowledged"),
        roles or "No roles assigned yet.",
        f"Channel: {incident.channel_name}   Bridge: {bridge_or_none(incident)}",
    ]
    lines += [
        f"Next {LABELS[o.channel].lower()} due {utc_time(o.due_at)}"
        for o in obligations_open(incident)
    ]
    return "\n".join(lines)


def _incident_command(command: Command, key: str) -> dict:
    sub = command.words[0].lower() if command.words else ""
    if sub == "declare":
        return _declare(command, key)
    if sub in ("ack", "status"):
        _only_options(command, set())
        if len(command.words) > 1:
            command.fail(f"`/incident {sub}` takes no text.")
        if sub == "ack":
            return _ack(command)
        return ephemeral(_status_text(_incident(command)))
    command.fail(f"Unknown subcommand {sub!r}." if sub else "Say what to do.")


def _status_command(command: Command, key: str) -> dict:
    sub = command.words[0].lower() if command.words else ""
    if sub != "update":
        command.fail(f"Unknown subcommand {sub!r}." if sub else "Say what to do.")
    _only_options(command, {"state"})
    message = _text(command, command.words[1:], "the update", '"We are investigating"')
    state = command.options.get("state", "").lower() or None
    if state is not None and state not in Status.values:
        command.fail(f"state must be one of {', '.join(Status.values)}.")
    incident = _incident(command)
    update = services.update_post(
        actor=command.user,
        incident_id=incident.pk,
        channel=Update.Channel.STATUS_PAGE,
        template=state,
        text=message,
    )
    return in_channel_about(
        incident,
        f"Status page updated for {incident.reference} ({Status(update.template).label}) by "
        f"@{command.user.username}:\n{message}",
    )


def _person(command: Command, mention: str) -> User:
    slack = SLACK_MENTION.match(mention)
    if slack:  # a Slack mention names whoever linked that Slack user, never its display name
        person = chat_user(command.form.get("team_id", ""), slack.group(1))
        if person is None:
            command.fail(
                f"That Slack user (<@{slack.group(1)}>) has not linked a TenSafe IR account; "
                "name them as @username."
            )
        return person
    if not mention.startswith("@") or len(mention) < 2:
        command.fail("Name who to page as @username.")
    person = User.objects.filter(username=mention[1:]).first()
    if person is None:
        command.fail(f"No TenSafe IR user named {mention[1:]!r}.")
    return person


def _pd_command(command: Command, key: str) -> dict:
    sub = command.words[0].lower() if command.words else ""
    if sub != "page":
        command.fail(f"Unknown subcommand {sub!r}." if sub else "Say what to do.")
    _only_options(command, set())
    if len(command.words) < 2:
        command.fail("Name who to page as @username.")
    person = _person(command, command.words[1])
    reason = _text(command, command.words[2:], "why", '"need a database expert"')
    incident = _incident(command)
    incident_services.incident_page_user(
        actor=command.user, incident_id=incident.pk, user=person, reason=reason
    )
    return in_channel_about(
        incident,
        f"Paged @{person.username} about {incident.reference} for @{command.user.username}: "
        f"{reason}",
    )


HANDLERS: dict[str, Callable[[Command, str], dict]] = {
    "/incident": _incident_command,
    "/status": _status_command,
    "/pd": _pd_command,
}


def _slow_down(team_id: str, user_id: str) -> dict | None:
    """The answer to a Slack user over TENSAFE_RATE_CHAT; None while under it."""
    rate = settings.TENSAFE_RATE_CHAT
    slot = slot_take("chat", f"{team_id}:{user_id}", rate)
    if slot is None or slot.allowed:
        return None
    limit, period = rate
    commands = "command" if limit == 1 else "commands"
    return ephemeral(
        f"Slow down: more than {limit} {commands} in {period} seconds. "
        f"Try again in {slot.retry_after} seconds."
    )


def _link_answer(form: dict) -> dict:
    """The answer to a Slack user who acts as nobody: a one-time link to become someone."""
    team_id, user_id = form["team_id"], form["user_id"]
    identity = chat_identity_for_slack_user(team_id, user_id)
    if identity is not None:  # linked, to an account that was deactivated
        return ephemeral(
            f"Your Slack user ({user_id}) is linked to a deactivated TenSafe IR account; ask an "
            "SRE lead to remove the link, then run the command again."
        )
    url = services.chat_link_start(
        team_id=team_id,
        team_domain=form.get("team_domain", ""),
        user_id=user_id,
        name=form.get("user_name", ""),
    )
    return ephemeral(
        f"Link your account: {url}\n"
        "Open it in your browser, sign in to TenSafe IR and confirm; it works once, within "
        f"{settings.TENSAFE_CHAT_LINK_MINUTES} minutes. Until you link, commands do nothing."
    )


def handle(form: dict, key: str) -> dict:
    """The answer to one verified slash command."""
    team_id, user_id = form.get("team_id", ""), form.get("user_id", "")
    if not team_id or not user_id:
        return ephemeral("The command did not say which Slack workspace and user sent it.")
    slow_down = _slow_down(team_id, user_id)
    if slow_down is not None:
        return slow_down
    user = chat_user(team_id, user_id)
    if user is None:
        return _link_answer(form)
    name = form.get("command", "").strip()
    if name not in HANDLERS:
        known = ", ".join(USAGE.values())
        return ephemeral(f"Unknown command {name!r}. I know: {known}.")
    try:
        return HANDLERS[name](parse(name, user, form), key)
    except CommandError as mistake:
        return ephemeral(str(mistake))
    except (RuleViolation, TransitionRefused) as refused:
        return ephemeral(refused.detail)
    except PermissionDenied as denied:
        return ephemeral(str(denied) or "You may not do that.")
    except Http404:
        return ephemeral(f"No such incident that you can see. {WHERE}")


@csrf_exempt
@require_POST
def slack_command_view(request):
    problem = slack_request_problem(request)
    if problem is not None:
        return JsonResponse({"detail": problem}, status=401)
    try:
        raw = parse_qs(request.body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        return JsonResponse(ephemeral("The command was not valid UTF-8."))
    form = {k: v[0] for k, v in raw.items()}
    key = form.get("trigger_id") or request.headers["X-Slack-Signature"]
    return JsonResponse(handle(form, key))


# --- buttons (interactive messages) ---------------------------------------------------------------
INCIDENT_ID = re.compile(r"\d{1,10}")


def _button_form(payload: dict) -> tuple[dict, str] | None:
    """The slash command a button click stands for, as the form Slack would have posted, and
    the key that makes it run once; None for clicks that ask nothing (a link button)."""
    action = next(iter(payload.get("actions") or []), None)
    if not isinstance(action, dict) or action.get("action_id") != "acknowledge":
        return None
    user, team = payload.get("user") or {}, payload.get("team") or {}
    value = str(action.get("value", ""))
    form = {
        "team_id": str(team.get("id") or user.get("team_id") or ""),
        "team_domain": str(team.get("domain", "")),
        "user_id": str(user.get("id", "")),
        "user_name": str(user.get("username") or user.get("name") or ""),
        "command": "/incident",
        # A value that is not an incident id reaches the command parser as "ack" alone, which
        # asks for the incident: nothing else a click carries becomes command text.
        "text": f"ack INC-{value}" if INCIDENT_ID.fullmatch(value) else "ack",
        "channel_name": "",
    }
    return form, str(payload.get("trigger_id") or action.get("action_ts") or "")


@csrf_exempt
@require_POST
def slack_interaction_view(request):
    problem = slack_request_problem(request)
    if problem is not None:
        return JsonResponse({"detail": problem}, status=401)
    try:
        raw = parse_qs(request.body.decode(), keep_blank_values=True)
        payload = json.loads(raw["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        return JsonResponse({"detail": "payload: not a Slack interaction (JSON form field)."}, 400)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return HttpResponse(status=200)  # nothing else is asked of us
    clicked = _button_form(payload)
    if clicked is None:
        return HttpResponse(status=200)
    form, key = clicked
    answer = handle(form, key or request.headers["X-Slack-Signature"])
    services.follow_up(
        str(payload.get("response_url", "")),
        answer["text"],
        in_channel=answer["response_type"] == "in_channel",
    )
    return HttpResponse(status=200)
