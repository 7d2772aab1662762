"""Pages: one row per (incident, rule, recipient, contact method), written before any send,
holding the outcome. The rows are the core outbox's kind "page" (incidents/outbox.py), which
claims, sends, retries and re-hands them like every other kind's: with exponential backoff on
timeouts, 5xx and 429 (never sooner than Retry-After), never on other 4xx; the idempotency key
means a retry or a re-run never pages twice. This module builds the rows and says how one is
sent (`PageSender`, through `incidents.notify`'s transports and so the outbound client)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.utils import timezone

from ..models import ContactMethod, Incident, Page, User
from ..notify import Outcome, deliver
from ..outbox import PAGES_QUEUE, RetryPolicy, outbox_rows_write, register_outbox_kind
from ..redaction import Message, incident_message, incident_url
from ..rules import bridge_or_none
from ..states import Status, TimelineKind
from .timeline import timeline_delivery_failed

KIND = "page"
# 6 tries, 2 s doubling to 5 min; a send taking longer than a minute is presumed dead, and a
# hand-off not taken within 10 s lost (the outbox sweep then hands it over again).
POLICY = RetryPolicy(
    attempts=6, base_seconds=2, cap_seconds=300, lease_seconds=60, requeue_grace_seconds=10
)
ACK_SALT = "tensafe.ack"


def ack_token(incident: Incident, user: User) -> str:
    return signing.dumps({"i": incident.pk, "u": user.pk}, salt=ACK_SALT, compress=True)


def ack_token_read(token: str, max_age_seconds: int) -> tuple[int, int]:
    """(incident id, user id) from a token; raises signing.BadSignature / SignatureExpired."""
    value = signing.loads(token, salt=ACK_SALT, max_age=max_age_seconds)
    return int(value["i"]), int(value["u"])


def _compose(incident: Incident, reason: str, user: User, at: datetime, body: str = "") -> Message:
    """The page in full; `incident_message` decides per contact method what is sent."""
    minutes = int((at - incident.detected_at).total_seconds() // 60)
    ack_url = f"{settings.PUBLIC_BASE_URL}/ack/{ack_token(incident, user)}/"
    subject = f"[{incident.severity}] {incident.reference} {incident.title} — {reason}"
    lines = [
        f"{incident.reference}: {incident.title}",
        f"Severity: {incident.severity}   Status: {Status(incident.status).label}",
        f"Detected: {incident.detected_at:%Y-%m-%d %H:%M} UTC ({minutes} min ago)",
        f"Why you are paged: {reason}",
        f"Channel: {incident.channel_name}   Bridge: {bridge_or_none(incident)}",
        f"Incident: {incident_url(incident)}",
    ]
    if incident.acknowledged_at is None:
        lines.append(f"Acknowledge: {ack_url}")
    if body:
        lines = (
            [body, "", *lines[-2:]] if incident.acknowledged_at is None else [body, "", lines[-1]]
        )
    if incident.drill:
        subject = f"[DRILL] {subject}"
        lines.insert(0, "DRILL — this is a game-day exercise.")
    payload = {
        "event": "page",
        "reason": reason,
        "drill": incident.drill,
        "incident": {
            "id": incident.pk,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "detected_at": incident.detected_at.isoformat(),
            "channel_name": incident.channel_name,
            "bridge_url": incident.bridge_url,
            "url": incident_url(incident),
        },
        "acknowledge_url": ack_url if incident.acknowledged_at is None else None,
    }
    return Message(subject[:300], "\n".join(lines), payload)


# A page by email goes to the person; Slack and JSON webhooks post to a channel or a system
# whose readers we cannot know, so about a restricted incident they always carry the
# redacted form (incidents.redaction).
PERSONAL_CHANNELS = frozenset({"email"})


def _methods_of(users) -> dict[int, list[tuple[str, str, str, str]]]:
    """(method key, channel, target, secret) for each enabled contact method of each user, in
    one query; email to the account's address for a person who has none."""
    found: dict[int, list] = {u.pk: [] for u in users}
    for m in ContactMethod.objects.filter(user__in=list(found), enabled=True).order_by(
        "user", "id"
    ):
        found[m.user_id].append((f"m{m.pk}", m.kind, m.target, m.secret))
    for user in users:
        if not found[user.pk] and user.email:
            found[user.pk] = [("email", "email", user.email, "")]
    return found


@dataclass
class PageRequest:
    """The pages one deadline (or one manual page) asks for."""

    incident: Incident
    deadline: object
    rule_key: str
    reason: str
    people: list[tuple[str, User]]
    at: datetime
    body: str = ""


def pages_build_many(requests: list[PageRequest]) -> list[tuple[list[int], str]]:
    """pages_build for many requests in three queries in all (contact methods, keys already
    taken, insert), so a sweep's cost does not grow by four queries per deadline. Returns
    (new page ids, timeline summary) per request, in order."""
    people = {p.pk: p for r in requests for _, p in r.people}
    methods = _methods_of(list(people.values()))
    built = []
    for r in requests:
        rows, names = [], []
        unique: dict[int, User] = {}
        for _target, person in r.people:
            unique.setdefault(person.pk, person)
        for person in unique.values():
            full = _compose(r.incident, r.reason, person, r.at, r.body)
            mine = methods[person.pk]
            for method_key, channel, address, secret in mine:
                message = incident_message(
                    r.incident, full, recipient=person if channel in PERSONAL_CHANNELS else None
                )
                rows.append(
                    Page(
                        incident=r.incident,
                        deadline=r.deadline,
                        rule_key=r.rule_key,
                        recipient=person,
                        channel=channel,
                        target=address,
                        secret=secret,
                        subject=message.subject,
                        body=message.body,
                        payload=message.payload,
                        idempotency_key=f"inc{r.incident.pk}:{r.rule_key}:u{person.pk}:{method_key}",
                        status=Page.Status.SUPPRESSED if r.incident.drill else Page.Status.PENDING,
                        next_attempt_at=r.at,
                        created_at=r.at,
                    )
                )
            names.append(person.username if mine else f"{person.username} (no contact method)")
        built.append((rows, names))
    keys = [row.idempotency_key for rows, _ in built for row in rows]
    taken = set(
        Page.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    Page.objects.bulk_create(
        [row for rows, _ in built for row in rows if row.idempotency_key not in taken]
    )  # sets each row's pk (PostgreSQL, SQLite >= 3.35)
    results = []
    for (rows, names), r in zip(built, requests, strict=True):
        new_ids = [
            row.pk
            for row in rows
            if row.idempotency_key not in taken and row.status == Page.Status.PENDING
        ]
        summary = ", ".join(dict.fromkeys(names))
        if r.incident.drill and names:
            summary += " (drill: suppressed, nothing sent)"
        results.append((new_ids, summary))
    return results


def pages_build(
    incident: Incident,
    *,
    deadline,
    rule_key: str,
    reason: str,
    people: list[tuple[str, User]],
    at: datetime,
    body: str = "",
) -> tuple[list[int], str]:
    """Write the page rows for `people` (inside the caller's transaction). Rows whose key
    exists are skipped: the same rule never pages the same person twice. Returns the new page
    ids and a summary for the timeline."""
    return pages_build_many([PageRequest(incident, deadline, rule_key, reason, people, at, body)])[
        0
    ]


# --- PagerDuty follow-ups ----------------------------------------------------------------------
# PagerDuty goes on notifying (and escalating by its own policy) until it is told: when the
# incident is acknowledged, or resolved, the platform sends `acknowledge`, or `resolve`, for
# every page it sent to PagerDuty about it, under that page's dedup_key.
FOLLOW_UP_PREFIX = "pagerduty:"


def pagerduty_follow_ups(incident: Incident, event) -> None:
    """Reaction to an acknowledgement or a resolution (registered in incidents/apps.py): one
    page row per PagerDuty page sent about the incident, carrying the event action, written
    in the event's transaction and handed over after commit. A re-run writes nothing new."""
    if event.kind == TimelineKind.STATUS_CHANGED:
        if (event.data or {}).get("to") != Status.RESOLVED:
            return
        action = "resolve"
    else:
        action = "acknowledge"
    now = timezone.now()
    sent = Page.objects.filter(
        incident=incident, channel="pagerduty", status=Page.Status.SENT
    ).exclude(rule_key__startswith=FOLLOW_UP_PREFIX)
    rows = [
        Page(
            incident=incident,
            deadline=None,
            rule_key=f"{FOLLOW_UP_PREFIX}{action}",
            recipient_id=page.recipient_id,
            channel=page.channel,
            target=page.target,
            secret=page.secret,
            subject=f"{action.title()} in PagerDuty: {page.subject}"[:300],
            body=event.text,
            payload={"event_action": action, "dedup_key": page.idempotency_key},
            idempotency_key=f"{page.idempotency_key}:{action}",
            next_attempt_at=now,
            created_at=now,
        )
        for page in sent
    ]
    outbox_rows_write(KIND, rows)


class PageSender:
    """How the outbox sends a "page" row: through its contact method's transport
    (`incidents.notify.deliver`: email, Slack-compatible or signed JSON webhook, the HTTP ones
    through the outbound client). A final failure (a 4xx other than 429, a refused address,
    or the last attempt) is a `page_failed` event on the incident's timeline, so the IC sees
    that a page did not go out; everyone who may open the incident reads it, so the target (a
    webhook URL is a credential) is masked in it."""

    def send(self, page: Page) -> Outcome:
        return deliver(page)

    def final_failure(self, page: Page, outcome: Outcome) -> None:
        timeline_delivery_failed(
            page.incident,
            TimelineKind.PAGE_FAILED,
            f"Page to {page.recipient.username} via {page.channel} failed after "
            f"{page.attempts} attempt(s)",
            row=page,
            row_key="page",
            outcome=outcome,
        )


def register() -> None:
    """Called from IncidentsConfig.ready()."""
    register_outbox_kind(
        KIND,
        model=Page,
        sender=PageSender(),
        policy=POLICY,
        select_related=("recipient", "incident"),
        incident_path="incident",
        queue=PAGES_QUEUE,
    )
