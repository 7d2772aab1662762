"""Chat commands whose work runs on a worker: `/incident declare` (procedures 9.3). The command is
a row before it is queued (docs/architecture.md, Conventions); the worker claims it, declares
through the core's service as the person who typed it (permissions apply), and answers in the
channel through Slack's `response_url`, which passes the outbound-address guard. And the record
of accepted request signatures that refuses replays."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.errors import RuleViolation
from incidents.models import Service
from incidents.notify import post_json
from incidents.outbound import outbound_host
from incidents.redaction import Message, incident_message
from incidents.rules import bridge_or_none
from incidents.services import incident_declare
from incidents.states import DetectionSource

from ..models import ChatCommand, ChatRequestSeen

log = logging.getLogger(__name__)
TITLE_MAX = 200
# A command running longer than this is presumed dead (its worker was killed) and handed over
# again; one queued longer than the grace period is presumed lost in the broker. Beat's
# "comms-requeue-stale" asks every 10 s (tensafe_ir/settings.py).
COMMAND_LEASE_SECONDS = 60
COMMAND_REQUEUE_GRACE_SECONDS = 10


def chat_request_claim(*, timestamp: int, signature: str, max_age_seconds: int) -> bool:
    """Record a verified Slack request's (timestamp, signature); False when it was recorded
    before, i.e. the request is a replay.

    1. Forget signatures whose timestamp is stale: the signature check refuses those anyway.
    2. INSERT this one under a unique key, kept until its own timestamp is stale. Of two
       requests with the same signature, in any processes, exactly one inserts it."""
    ChatRequestSeen.objects.filter(expires_at__lt=timezone.now()).delete()
    key = hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()
    expires_at = datetime.fromtimestamp(timestamp + max_age_seconds, tz=UTC)
    try:
        with transaction.atomic():
            ChatRequestSeen.objects.create(key=key, expires_at=expires_at)
    except IntegrityError:
        return False
    return True


def _enqueue(command_ids: list[int]) -> None:
    from ..tasks import chat_command_task

    for command_id in command_ids:
        try:
            chat_command_task.delay(command_id)
        except Exception:
            log.warning("could not enqueue chat command %s; the sweeper will retry", command_id)
            return


def chat_command_queue(
    *, key: str, user, slack_user_id: str, command: str, text: str, args: dict, response_url: str
) -> tuple[ChatCommand, bool]:
    """Record a command for a worker and hand it over after commit. A command already
    recorded under `key` (Slack retried the request) is not queued again."""
    now = timezone.now()
    with transaction.atomic():
        command_row, created = ChatCommand.objects.get_or_create(
            key=key[:128],
            defaults={
                "user": user,
                "slack_user_id": slack_user_id,
                "command": command,
                "text": text,
                "args": args,
                "response_url": response_url,
                "created_at": now,
                "handed_at": now,
            },
        )
        if created:
            transaction.on_commit(lambda: _enqueue([command_row.pk]))
    return command_row, created


def follow_up(response_url: str, text: str, *, in_channel: bool) -> bool:
    """Answer a slash command later through its `response_url` (guarded like every outgoing
    request). Returns whether Slack took it."""
    if not response_url:
        return False
    body = json.dumps(
        {"response_type": "in_channel" if in_channel else "ephemeral", "text": text}
    ).encode()
    outcome = post_json(response_url, body, {})
    if not outcome.ok:
        # The response_url is a credential (anyone holding it may answer in the channel):
        # only its host is logged.
        log.warning("chat follow-up to %s failed: %s", outbound_host(response_url), outcome.error)
    return outcome.ok


def _declared_text(incident, user) -> str:
    """The answer posted in the channel (read by everyone in it, so `incident_message` with
    no user as recipient)."""
    text = (
        f"{incident.reference} declared ({incident.severity}): {incident.title}\n"
        f"Channel: {incident.channel_name}   Bridge: {bridge_or_none(incident)}\n"
        f"Declared by @{user.username}. In the incident channel: `/incident ack`, "
        '`/incident status`, `/status update "message" state=investigating`.'
    )
    return incident_message(incident, Message("", text)).body


def chat_command_declare(command_id: int) -> str:
    """Run a queued `/incident declare`.

    1. Claim it: a conditional UPDATE queued→running that exactly one worker wins.
    2. In one transaction: lock the row, and unless an incident is already recorded on it
       (a redelivered message), declare as the command's user and record the incident.
    3. After commit, answer in the channel (or say what was wrong, to the user alone).
    Returns the resulting status."""
    claimed = ChatCommand.objects.filter(pk=command_id, status=ChatCommand.Status.QUEUED).update(
        status=ChatCommand.Status.RUNNING, handed_at=timezone.now()
    )
    if not claimed:
        return "skipped"
    in_channel = False
    with transaction.atomic():
        command = ChatCommand.objects.select_for_update().select_related("user").get(pk=command_id)
        if command.incident_id is not None:  # declared before; the message came again
            command.status = ChatCommand.Status.DONE
            command.save(update_fields=["status"])
            return command.status
        args = command.args
        try:
            with transaction.atomic():
                incident = incident_declare(
                    actor=command.user,
                    title=args["description"][:TITLE_MAX],
                    description=args["description"],
                    severity=args["severity"],
                    detection_source=DetectionSource.INTERNAL_REPORT,
                    services=list(Service.objects.filter(slug__in=args.get("services", []))),
                )
        except (RuleViolation, PermissionDenied) as refused:
            command.status = ChatCommand.Status.FAILED
            command.result = f"Could not declare: {getattr(refused, 'detail', refused)}"
        else:
            command.status, command.incident = ChatCommand.Status.DONE, incident
            command.result = _declared_text(incident, command.user)
            in_channel = True
        command.finished_at = timezone.now()
        command.save(update_fields=["status", "incident", "result", "finished_at"])
    follow_up(command.response_url, command.result, in_channel=in_channel)
    return command.status


def chat_commands_requeue_stale(*, now: datetime | None = None) -> list[int]:
    """Commands whose hand-off was lost (queued past the grace period) or whose worker died
    (running past the lease) are handed to the workers again; the row lock and the recorded
    incident keep a re-run from declaring twice."""
    now = now or timezone.now()
    with transaction.atomic():
        ChatCommand.objects.filter(
            status=ChatCommand.Status.RUNNING,
            incident__isnull=True,
            handed_at__lt=now - timedelta(seconds=COMMAND_LEASE_SECONDS),
        ).update(status=ChatCommand.Status.QUEUED)
        stale = list(
            ChatCommand.objects.filter(
                status=ChatCommand.Status.QUEUED,
                handed_at__lt=now - timedelta(seconds=COMMAND_REQUEUE_GRACE_SECONDS),
            ).values_list("pk", flat=True)
        )
        ChatCommand.objects.filter(pk__in=stale).update(handed_at=now)
    _enqueue(stale)
    return stale
