"""Outgoing webhooks: incident events to subscribers, signed, in order per incident, retried.

The same pattern as pages (incidents.services.paging): a `WebhookDelivery` row is written in
the transaction of the timeline event it reports, handed to a worker after commit, claimed
with a conditional UPDATE and a lease, sent outside any transaction, and its outcome recorded.
Timeouts, connection errors, 5xx and 429 are retried with exponential backoff; other 4xx and
refused targets fail at once. A subscription whose sends keep failing is disabled.

Nothing accepted is lost while a subscription is disabled (after failures or by an SRE lead):
its deliveries are still written, as `held`, and its pending ones are held too. Enabling it
again releases them, sent in order per incident as ever; a delivery held longer than
TENSAFE_WEBHOOK_HOLD_DAYS is marked `expired` instead of sent.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents.db import claim_row, lease_lost, on_fresh_connection
from incidents.models import Incident, TimelineEvent
from incidents.notify import Outcome, backoff_seconds, post_json, sign
from incidents.redaction import Message, incident_message, incident_url
from incidents.services.timeline import timeline_record
from incidents.states import TimelineKind

from ..models import WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2
BACKOFF_CAP_SECONDS = 600
LEASE_SECONDS = 60
REQUEUE_GRACE_SECONDS = 15
DISABLE_AFTER_FAILURES = 10  # consecutive failed attempts, across deliveries

# Timeline kinds that are sent, and the event name they go out as.
KIND_EVENTS = {
    TimelineKind.DECLARED: "declared",
    TimelineKind.STATUS_CHANGED: "status_changed",
    TimelineKind.REOPENED: "reopened",
    TimelineKind.ESCALATED: "escalated",
    TimelineKind.PIR_PUBLISHED: "pir_published",
}
PENDING, SENDING, HELD = (
    WebhookDelivery.Status.PENDING,
    WebhookDelivery.Status.SENDING,
    WebhookDelivery.Status.HELD,
)
# A delivery in one of these keeps the later ones of its incident waiting.
OUTSTANDING = (PENDING, SENDING, HELD)


def event_name(event: TimelineEvent) -> str | None:
    name = KIND_EVENTS.get(event.kind)
    if name == "status_changed" and (event.data or {}).get("to") == "resolved":
        return "resolved"
    return name


def _payload(incident: Incident, event: TimelineEvent, name: str) -> dict:
    return {
        "event": f"incident.{name}",
        "occurred_at": event.occurred_at.isoformat(),
        "drill": incident.drill,
        "incident": {
            "id": incident.pk,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "security": incident.security,
            "services": sorted(incident.services.values_list("slug", flat=True)),
            "detected_at": incident.detected_at.isoformat(),
            "declared_at": incident.declared_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            "channel_name": incident.channel_name,
            "url": incident_url(incident),
        },
        "timeline_event": {
            "id": event.pk,
            "kind": event.kind,
            "text": event.text,
            "data": event.data,
        },
    }


def webhook_deliveries_create(incident: Incident, event: TimelineEvent) -> list[int]:
    """Write one delivery per subscription that wants this event (inside the event's
    transaction) and hand the pending ones to the workers after commit. A disabled
    subscription's delivery is written held. Restricted (security) incidents go only to
    subscriptions allowed to receive them; a drill's deliveries are recorded as suppressed and
    never sent."""
    name = event_name(event)
    if name is None:
        return []
    wanted = {name, "status_changed"} if name == "resolved" else {name}
    subscriptions = [
        s
        for s in WebhookSubscription.objects.all()
        if wanted & set(s.events or []) and (s.allow_restricted or not incident.security)
    ]
    if not subscriptions:
        return []
    now = timezone.now()
    payload = _payload(incident, event, name)
    rows = [
        WebhookDelivery(
            subscription=sub,
            incident=incident,
            timeline_event=event,
            event=name,
            # Only an `allow_restricted` subscription is trusted with a restricted incident's
            # details (the others were left out above).
            payload=incident_message(
                incident,
                Message("", "", {"id": f"whd-s{sub.pk}-e{event.pk}", **payload}),
                trusted=sub.allow_restricted,
            ).payload,
            idempotency_key=f"whd-s{sub.pk}-e{event.pk}",
            status=(
                WebhookDelivery.Status.SUPPRESSED
                if incident.drill
                else (PENDING if sub.enabled else HELD)
            ),
            next_attempt_at=now,
            created_at=now,
        )
        for sub in subscriptions
    ]
    WebhookDelivery.objects.bulk_create(rows)
    ids = [r.pk for r in rows if r.status == PENDING]
    if ids:
        transaction.on_commit(lambda: webhooks_enqueue(ids))
    return ids


def webhooks_enqueue(delivery_ids: list[int]) -> None:
    """Hand deliveries to the workers (after commit). A broker that is down loses nothing: the
    rows stay pending and the sweeper hands them over again."""
    from ..tasks import deliver_webhook_task

    for delivery_id in delivery_ids:
        try:
            deliver_webhook_task.delay(delivery_id)
        except Exception:
            log.warning("could not enqueue webhook delivery %s", delivery_id, exc_info=True)
            return


def hold_limit() -> timedelta:
    return timedelta(days=settings.TENSAFE_WEBHOOK_HOLD_DAYS)


def _expire_held(deliveries, now: datetime) -> int:
    """Mark the deliveries among `deliveries` held longer than the limit expired."""
    return deliveries.filter(created_at__lt=now - hold_limit()).update(
        status=WebhookDelivery.Status.EXPIRED,
        lease_until=None,
        last_error=(
            f"Held while the subscription was disabled for longer than "
            f"{settings.TENSAFE_WEBHOOK_HOLD_DAYS:g} days (TENSAFE_WEBHOOK_HOLD_DAYS); not sent."
        ),
    )


def webhooks_hold(subscription_id: int) -> int:
    """Inside the transaction that disables a subscription: its pending deliveries wait, held,
    until it is enabled again. Returns how many."""
    return WebhookDelivery.objects.filter(subscription_id=subscription_id, status=PENDING).update(
        status=HELD, lease_until=None
    )


def webhooks_release(subscription_id: int, *, now: datetime | None = None) -> tuple[int, int]:
    """Inside the transaction that enables a subscription: deliveries held longer than
    TENSAFE_WEBHOOK_HOLD_DAYS (or left pending that long) are marked expired, the rest of the
    held ones are pending again, due now. Hand them over after commit with
    webhooks_enqueue_outstanding. Returns (released, expired)."""
    now = now or timezone.now()
    mine = WebhookDelivery.objects.filter(subscription_id=subscription_id)
    expired = _expire_held(mine.filter(status__in=[HELD, PENDING]), now)
    released = mine.filter(status=HELD).update(status=PENDING, next_attempt_at=now)
    if released or expired:
        log.info(
            "webhook subscription %s enabled: %s held deliveries released, %s expired",
            subscription_id,
            released,
            expired,
        )
    return released, expired


def webhooks_enqueue_outstanding(subscription_id: int) -> None:
    """The first pending delivery of each incident of a subscription (after re-enabling); each
    hands over the next of its incident when it is done."""
    firsts = (
        WebhookDelivery.objects.filter(subscription_id=subscription_id, status=PENDING)
        .order_by("incident_id", "id")
        .values_list("incident_id", "pk")
    )
    seen, ids = set(), []
    for incident_id, pk in firsts:
        if incident_id not in seen:
            seen.add(incident_id)
            ids.append(pk)
    webhooks_enqueue(ids)


def post_signed(url: str, secret: str, payload: dict, idempotency_key: str, event: str) -> Outcome:
    """POST the payload signed as pages are (incidents.notify.sign: HMAC-SHA256 of
    "<timestamp>.<body>", headers X-TenSafe-Timestamp / X-TenSafe-Signature)."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TenSafe-IR-Webhooks/1",
        "Idempotency-Key": idempotency_key,
        "X-TenSafe-Event": event,
        "X-TenSafe-Timestamp": timestamp,
        "X-TenSafe-Signature": sign(secret, timestamp, body),
    }
    return post_json(url, body, headers)


def _backoff(attempts: int, retry_after: float | None) -> float:
    return backoff_seconds(
        attempts, retry_after, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS
    )


def webhook_deliver(delivery_id: int) -> str:
    """Send one delivery; returns what happened.

    1. Wait while an earlier delivery of the same subscription and incident is outstanding
       (pending or sending): events of an incident arrive in the order they happened. The
       earlier one hands this one over when it is done.
    2. Claim it: a conditional UPDATE pending→sending (attempts+1, lease) that exactly one
       worker wins, only while it is due and its subscription is enabled.
    3. Send (outside any transaction).
    4. Record the outcome and the subscription's failure count in one transaction: sent; or
       pending again after a backoff (retryable, attempts left); or failed. The
       DISABLE_AFTER_FAILURES-th consecutive failed attempt disables the subscription, logs it
       and notes it on the incident's timeline.
    5. Schedule the retry, or hand over the next delivery of the same incident.
    A database connection lost on the way is replaced and the step tried again
    (incidents.db), as for pages.
    """
    waiting = on_fresh_connection(_not_ready, delivery_id)
    if waiting:
        return waiting
    now = timezone.now()
    lease = now + timedelta(seconds=LEASE_SECONDS)
    claimed = claim_row(
        WebhookDelivery,
        delivery_id,
        where={"status": PENDING, "next_attempt_at__lte": now, "subscription__enabled": True},
        changes={"status": SENDING, "attempts": F("attempts") + 1, "lease_until": lease},
    )
    if not claimed:
        return "skipped"
    delivery = on_fresh_connection(
        WebhookDelivery.objects.select_related("subscription", "incident").get, pk=delivery_id
    )
    sub = delivery.subscription
    outcome = post_signed(
        sub.url, sub.secret, delivery.payload, delivery.idempotency_key, delivery.event
    )
    status = on_fresh_connection(_record_outcome, delivery, outcome, lease)
    if status == PENDING:
        from ..tasks import deliver_webhook_task

        try:
            deliver_webhook_task.apply_async((delivery.pk,), eta=delivery.next_attempt_at)
        except Exception:
            log.warning("could not schedule retry of webhook delivery %s", delivery.pk)
    elif status != SENDING:
        on_fresh_connection(_hand_next, delivery)
    return status


def _not_ready(delivery_id: int) -> str | None:
    """ "missing", or "waiting" while an earlier delivery of its incident is outstanding."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        return "missing"
    earlier = WebhookDelivery.objects.filter(
        subscription_id=delivery.subscription_id,
        incident_id=delivery.incident_id,
        id__lt=delivery.pk,
        status__in=OUTSTANDING,
    )
    if delivery.status == PENDING and earlier.exists():
        return "waiting"
    return None


def _record_outcome(delivery: WebhookDelivery, outcome: Outcome, lease: datetime) -> str:
    """Step 4 of webhook_deliver; a delivery no longer under this send's `lease` (another worker
    has it, or an earlier try of this record committed) is left as it is."""
    with transaction.atomic():
        # The subscription first, then the delivery: the order subscription_update locks in.
        sub = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
        if (status := lease_lost(WebhookDelivery, delivery.pk, lease)) is not None:
            return status
        now = timezone.now()
        delivery.response_code = outcome.code
        delivery.last_error = outcome.error[:500]
        delivery.lease_until = None
        if outcome.ok:
            delivery.status, delivery.sent_at = WebhookDelivery.Status.SENT, now
            if sub.consecutive_failures:
                sub.consecutive_failures = 0
                sub.save(update_fields=["consecutive_failures"])
        else:
            sub.consecutive_failures += 1
            fields = ["consecutive_failures"]
            if sub.enabled and sub.consecutive_failures >= DISABLE_AFTER_FAILURES:
                _disable(sub, delivery, outcome, now)
                fields += ["enabled", "disabled_at", "disabled_reason"]
            sub.save(update_fields=fields)
            if outcome.retryable and delivery.attempts < MAX_ATTEMPTS:
                # Disabled (now or by an SRE lead meanwhile): it waits with the others.
                delivery.status = PENDING if sub.enabled else HELD
                delivery.next_attempt_at = now + timedelta(
                    seconds=_backoff(delivery.attempts, outcome.retry_after)
                )
            else:
                delivery.status = WebhookDelivery.Status.FAILED
        delivery.save(
            update_fields=[
                "status",
                "sent_at",
                "next_attempt_at",
                "lease_until",
                "response_code",
                "last_error",
            ]
        )
    return delivery.status


def _disable(sub: WebhookSubscription, delivery: WebhookDelivery, outcome: Outcome, now) -> None:
    held = webhooks_hold(sub.pk)
    sub.enabled = False
    sub.disabled_at = now
    sub.disabled_reason = (
        f"Disabled after {sub.consecutive_failures} consecutive failed attempts; last: "
        f"{outcome.error}"
    )[:500]
    log.warning("webhook subscription %s (%s) disabled: %s", sub.pk, sub.name, sub.disabled_reason)
    timeline_record(
        delivery.incident,
        TimelineKind.NOTE,
        f"Outgoing webhook {sub.name!r} disabled after {sub.consecutive_failures} consecutive "
        f"failed deliveries ({outcome.error}); its events are held (not lost) and sent in "
        "order when an SRE lead re-enables it in admin or the API.",
        occurred_at=now,
        data={
            "webhook_subscription": sub.pk,
            "error": outcome.error,
            "code": outcome.code,
            "held": held,
        },
    )


def _hand_next(delivery: WebhookDelivery) -> None:
    following = (
        WebhookDelivery.objects.filter(
            subscription_id=delivery.subscription_id,
            incident_id=delivery.incident_id,
            id__gt=delivery.pk,
            status=WebhookDelivery.Status.PENDING,
        )
        .order_by("id")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        webhooks_enqueue([following])


def webhooks_requeue_stale(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Deliveries of enabled subscriptions a worker should have handled by now: sending past
    their lease (the worker died), or pending and due past the grace period (the hand-off was
    lost). Returns the ids handed over again.

    It also settles what an event written while its subscription changed state can leave
    behind (the event's transaction read the subscription before the change committed): a
    held delivery of an enabled subscription is released, a pending one of a disabled
    subscription is held; and held deliveries past TENSAFE_WEBHOOK_HOLD_DAYS are expired, so a
    subscription left disabled does not keep them for ever."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=REQUEUE_GRACE_SECONDS)
    with transaction.atomic():
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.SENDING, lease_until__lt=now
        ).update(status=WebhookDelivery.Status.PENDING, lease_until=None)
        _expire_held(WebhookDelivery.objects.filter(status=HELD), now)
        WebhookDelivery.objects.filter(status=HELD, subscription__enabled=True).update(
            status=PENDING, next_attempt_at=grace
        )
        WebhookDelivery.objects.filter(status=PENDING, subscription__enabled=False).update(
            status=HELD
        )
        stale = list(
            WebhookDelivery.objects.filter(
                Q(status=WebhookDelivery.Status.PENDING)
                & Q(next_attempt_at__lte=grace)
                & Q(subscription__enabled=True)
            )
            .order_by("id")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=stale).update(next_attempt_at=now)
    webhooks_enqueue(stale)
    return stale
