"""Pages: one row per (incident, rule, recipient, contact method), written before any send,
holding the outcome. Delivery retries with exponential backoff on timeouts, 5xx and 429, never
on other 4xx; the idempotency key means a retry or a re-run never pages twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..db import claim_row, lease_lost, on_fresh_connection
from ..models import ContactMethod, Incident, Page, User
from ..notify import backoff_seconds, deliver
from ..redaction import Message, incident_message, incident_url, text_without_target
from ..rules import bridge_or_none
from ..states import Status, TimelineKind
from .timeline import timeline_record

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 2
BACKOFF_CAP_SECONDS = 300
LEASE_SECONDS = 60  # a send that takes longer is presumed dead and retried
REQUEUE_GRACE_SECONDS = 10  # time the broker gets to deliver a hand-off before the sweeper resends
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


def pages_enqueue(page_ids: list[int]) -> None:
    """Hand pages to the workers. Runs after commit; if the broker is down the pages stay
    pending and the sweeper hands them over again (pages_requeue_stale)."""
    if not page_ids:
        return
    from ..tasks import deliver_page_task

    for page_id in page_ids:
        try:
            deliver_page_task.delay(page_id)
        except Exception:
            log.warning("could not enqueue page %s; the sweeper will retry", page_id, exc_info=True)
            return


def _backoff(attempts: int, retry_after: float | None) -> float:
    return backoff_seconds(
        attempts, retry_after, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS
    )


def page_deliver(page_id: int) -> str:
    """Send one page.

    1. Claim it: a conditional UPDATE pending→sending (attempts+1, lease) that exactly one
       worker wins; a page already sent, failed or being sent is left alone.
    2. Send through its transport (outside any transaction).
    3. Record the outcome (`_page_record`): sent; or pending again after a backoff when
       retryable and attempts remain; or failed, with a timeline event so the IC sees that a
       page did not go out.
    A database connection lost on the way is replaced and the step tried again
    (incidents.db), so a page sent is recorded as sent rather than left to its lease and sent
    twice. Returns the resulting status."""
    now = timezone.now()
    lease = now + timedelta(seconds=LEASE_SECONDS)
    claimed = claim_row(
        Page,
        page_id,
        where={"status": Page.Status.PENDING, "next_attempt_at__lte": now},
        changes={
            "status": Page.Status.SENDING,
            "attempts": F("attempts") + 1,
            "lease_until": lease,
        },
    )
    if not claimed:
        return "skipped"
    page = on_fresh_connection(Page.objects.select_related("recipient", "incident").get, pk=page_id)
    outcome = deliver(page)
    status = on_fresh_connection(_page_record, page, outcome, lease)
    if status == Page.Status.PENDING:
        from ..tasks import deliver_page_task

        try:
            deliver_page_task.apply_async((page.pk,), eta=page.next_attempt_at)
        except Exception:
            log.warning("could not schedule retry of page %s", page.pk, exc_info=True)
    return status


def _page_record(page: Page, outcome, lease: datetime) -> str:
    """Record a send's outcome, unless the page is no longer this send's (`lease` ran out and
    another worker has it, or an earlier try of this record committed before the connection
    dropped): then its status is left as it is and returned."""
    with transaction.atomic():
        if (status := lease_lost(Page, page.pk, lease)) is not None:
            return status
        now = timezone.now()
        page.response_code = outcome.code
        page.last_error = outcome.error[:500]
        page.lease_until = None
        if outcome.ok:
            page.status, page.sent_at = Page.Status.SENT, now
        elif outcome.retryable and page.attempts < MAX_ATTEMPTS:
            page.status = Page.Status.PENDING
            page.next_attempt_at = now + timedelta(
                seconds=_backoff(page.attempts, outcome.retry_after)
            )
        else:
            page.status = Page.Status.FAILED
            # Everyone who may open the incident reads its timeline, not the target.
            error = text_without_target(outcome.error, page.target)
            timeline_record(
                page.incident,
                TimelineKind.PAGE_FAILED,
                f"Page to {page.recipient.username} via {page.channel} failed after "
                f"{page.attempts} attempt(s): {error}",
                occurred_at=now,
                data={"page": page.pk, "error": error, "code": outcome.code},
            )
        page.save(
            update_fields=[
                "status",
                "sent_at",
                "next_attempt_at",
                "lease_until",
                "response_code",
                "last_error",
            ]
        )
    return page.status


def pages_requeue_stale(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pages a worker should have handled by now: pending and due for longer than the grace
    period (their hand-off was lost, e.g. Redis restarted), or stuck sending past their lease
    (the worker died mid-send). Returns the ids handed to the workers again."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=REQUEUE_GRACE_SECONDS)
    with transaction.atomic():
        Page.objects.filter(status=Page.Status.SENDING, lease_until__lt=now).update(
            status=Page.Status.PENDING, lease_until=None
        )
        stale = list(
            Page.objects.filter(Q(status=Page.Status.PENDING) & Q(next_attempt_at__lte=grace))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        # Push them forward so each is re-sent once per grace period, not on every sweep.
        Page.objects.filter(pk__in=stale).update(next_attempt_at=now)
    pages_enqueue(stale)
    return stale
