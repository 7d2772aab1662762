"""Outgoing webhooks: incident events to subscribers, signed, in order per incident, retried.

A `WebhookDelivery` row is written in the transaction of the timeline event it reports; the
rows are the core outbox's kind "outgoing-webhook" (incidents/outbox.py), which hands them to
the workers after commit, claims them under a lease, sends, records and re-hands them, one at
a time per (subscription, incident): the kind's ordering key. This module builds the rows and
says how one is sent (`WebhookSender`): signed, through the one outbound HTTP client.
Timeouts, connection errors, 5xx and 429 are retried with exponential backoff (Retry-After
honoured); other 4xx and refused targets fail at once. A subscription whose sends keep failing
is disabled (the sender's failure accounting).

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
from django.utils import timezone

from incidents.models import Incident, TimelineEvent
from incidents.notify import Outcome, post_json, sign, standard_webhooks_headers
from incidents.outbox import RetryPolicy, outbox_enqueue, register_outbox_kind
from incidents.redaction import Message, incident_message, incident_url
from incidents.services.timeline import timeline_record
from incidents.states import TimelineKind

from ..models import WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

KIND = "outgoing-webhook"
# 8 tries, 2 s doubling to 10 min (never sooner than the receiver's Retry-After), on timeouts,
# connection failures, 5xx and 429; a send taking longer than a minute is presumed dead, a
# hand-off not taken in 15 s lost.
POLICY = RetryPolicy(
    attempts=8, base_seconds=2, cap_seconds=600, lease_seconds=60, requeue_grace_seconds=15
)
DISABLE_AFTER_FAILURES = 10  # consecutive failed attempts, across deliveries

# Timeline kinds that are sent, and the event name they go out as.
KIND_EVENTS = {
    TimelineKind.DECLARED: "declared",
    TimelineKind.STATUS_CHANGED: "status_changed",
    TimelineKind.REOPENED: "reopened",
    TimelineKind.ESCALATED: "escalated",
    # A manual escalation (5.4, `POST …/escalate/`, the dashboard, `/incident escalate`) is an
    # escalation too: receivers tell it from a timer's by `timeline_event.kind`.
    TimelineKind.ESCALATION_REQUESTED: "escalated",
    TimelineKind.PIR_PUBLISHED: "pir_published",
}
PENDING, HELD = WebhookDelivery.Status.PENDING, WebhookDelivery.Status.HELD


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
        transaction.on_commit(lambda: outbox_enqueue(KIND, ids))
    return ids


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
    """The first pending delivery of each incident of a subscription (after re-enabling); the
    outbox hands over the next of its incident when each is done."""
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
    outbox_enqueue(KIND, ids)


def post_signed(url: str, secret: str, payload: dict, idempotency_key: str, event: str) -> Outcome:
    """POST the payload signed two ways with the subscription's secret: as pages are
    (incidents.notify.sign: hex HMAC-SHA256 of "<timestamp>.<body>", headers
    X-TenSafe-Timestamp / X-TenSafe-Signature), and the Standard Webhooks way (webhook-id,
    webhook-timestamp, webhook-signature), which receivers verify with that project's
    libraries."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TenSafe-IR-Webhooks/1",
        "Idempotency-Key": idempotency_key,
        "X-TenSafe-Event": event,
        "X-TenSafe-Timestamp": timestamp,
        "X-TenSafe-Signature": sign(secret, timestamp, body),
        **standard_webhooks_headers(secret, idempotency_key, timestamp, body),
    }
    return post_json(url, body, headers)


class WebhookSender:
    """How the outbox sends an "outgoing-webhook" row, and the subscription's part in the
    record of its outcome (all in the record's transaction):

    - `lock`: the subscription is locked first, then the delivery (the order
      `subscription_update` locks in), and kept on the row for the hooks below;
    - `sent`: a success clears the subscription's count of consecutive failed attempts;
    - `failed`: a failed attempt adds one; the DISABLE_AFTER_FAILURES-th disables the
      subscription, holds its pending deliveries, logs it and notes it on the incident's
      timeline;
    - `held`: a retry owed while the subscription is disabled (now or by an SRE lead
      meanwhile) waits, held, with the others;
    - `settle` (the sweep): what an event written while its subscription changed state can
      leave behind (its transaction read the subscription before the change committed) is put
      right: a held delivery of an enabled subscription is released, a pending one of a
      disabled subscription is held; and held deliveries past TENSAFE_WEBHOOK_HOLD_DAYS are
      expired, so a subscription left disabled does not keep them for ever.
    """

    def send(self, delivery: WebhookDelivery) -> Outcome:
        sub = delivery.subscription
        return post_signed(
            sub.url, sub.secret, delivery.payload, delivery.idempotency_key, delivery.event
        )

    def lock(self, delivery: WebhookDelivery) -> None:
        delivery.subscription = WebhookSubscription.objects.select_for_update().get(
            pk=delivery.subscription_id
        )

    def sent(self, delivery: WebhookDelivery) -> None:
        sub = delivery.subscription
        if sub.consecutive_failures:
            sub.consecutive_failures = 0
            sub.save(update_fields=["consecutive_failures"])

    def failed(self, delivery: WebhookDelivery, outcome: Outcome) -> None:
        sub = delivery.subscription
        sub.consecutive_failures += 1
        fields = ["consecutive_failures"]
        if sub.enabled and sub.consecutive_failures >= DISABLE_AFTER_FAILURES:
            _disable(sub, delivery, outcome, timezone.now())
            fields += ["enabled", "disabled_at", "disabled_reason"]
        sub.save(update_fields=fields)

    def held(self, delivery: WebhookDelivery) -> bool:
        return not delivery.subscription.enabled

    def settle(self, now: datetime) -> None:
        due = now - timedelta(seconds=POLICY.requeue_grace_seconds)
        _expire_held(WebhookDelivery.objects.filter(status=HELD), now)
        WebhookDelivery.objects.filter(status=HELD, subscription__enabled=True).update(
            status=PENDING, next_attempt_at=due
        )
        WebhookDelivery.objects.filter(status=PENDING, subscription__enabled=False).update(
            status=HELD
        )


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


def register() -> None:
    """Called from IntegrationsConfig.ready()."""
    register_outbox_kind(
        KIND,
        model=WebhookDelivery,
        sender=WebhookSender(),
        policy=POLICY,
        select_related=("subscription", "incident"),
        incident_path="incident",
        ordering_key=("subscription_id", "incident_id"),
        claim_where={"subscription__enabled": True},
        held_status=HELD,
    )
