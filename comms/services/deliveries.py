"""Deliveries of an update: one row per recipient (a customer contact's email, a team's
webhook), written in the posting transaction before any send, with an idempotency key per
(incident, update, recipient) that is unique in the database. The same machinery as pages
(`incidents.services.paging`): handed to a worker after commit, claimed with a conditional
UPDATE, retried with exponential backoff on timeouts, 5xx and 429, re-handed by the sweeper
when the hand-off was lost or the sender died. Sent through `incidents.notify`'s transports,
so webhooks pass the same outbound-address guard."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from incidents.db import claim_row, lease_lost, on_fresh_connection
from incidents.notify import TRANSPORTS
from incidents.redaction import (
    Message,
    contact_target_masked,
    incident_message,
    text_without_target,
)
from incidents.services.paging import (
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    REQUEUE_GRACE_SECONDS,
    _backoff,
)
from incidents.services.timeline import timeline_record
from incidents.states import TimelineKind

from ..models import CustomerContact, Delivery, TeamWebhook, Update
from ..render import CUSTOMER_PLACEHOLDER

log = logging.getLogger(__name__)


def _rows_for(update: Update, at: datetime) -> list[Delivery]:
    incident = update.incident
    status = Delivery.Status.SUPPRESSED if incident.drill else Delivery.Status.PENDING
    common = {
        "incident": incident,
        "update": update,
        "status": status,
        "next_attempt_at": at,
        "created_at": at,
    }
    key = f"inc{incident.pk}:upd{update.pk}"
    if update.channel == Update.Channel.INTERNAL:
        team_ids = {s.team_id for s in incident.services.all()}
        hooks = TeamWebhook.objects.filter(team_id__in=team_ids, enabled=True).select_related(
            "team"
        )
        subject = f"[{incident.severity}] {incident.reference} {incident.title} — status update"
        # A team's webhook posts to a channel: no details of a restricted incident go there.
        message = incident_message(incident, Message(subject[:300], update.text))
        return [
            Delivery(
                **common,
                team=hook.team,
                channel="slack",
                target=hook.url,
                subject=message.subject,
                body=message.body,
                idempotency_key=f"{key}:team{hook.team_id}",
            )
            for hook in hooks
        ]
    if update.channel == Update.Channel.CUSTOMER_EMAIL:
        contacts = (
            CustomerContact.objects.filter(
                active=True, customer__services__in=incident.services.all()
            )
            .select_related("customer")
            .distinct()
            .order_by("id")
        )
        rows = []
        for contact in contacts:
            # An external address: never a restricted incident's details.
            message = incident_message(
                incident,
                Message(
                    update.subject[:300],
                    update.text.replace(CUSTOMER_PLACEHOLDER, contact.customer.name),
                ),
            )
            rows.append(
                Delivery(
                    **common,
                    contact=contact,
                    channel="email",
                    target=contact.email,
                    subject=message.subject,
                    body=message.body,
                    idempotency_key=f"{key}:contact{contact.pk}",
                )
            )
        return rows
    return []


def deliveries_build(update: Update, *, at: datetime) -> tuple[list[int], int]:
    """Write the delivery rows of `update` (inside the posting transaction); rows whose key
    exists are skipped. Returns the ids to hand to the workers, and how many recipients."""
    rows = _rows_for(update, at)
    keys = [r.idempotency_key for r in rows]
    taken = set(
        Delivery.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    Delivery.objects.bulk_create([r for r in rows if r.idempotency_key not in taken])
    ids = list(
        Delivery.objects.filter(
            idempotency_key__in=[k for k in keys if k not in taken],
            status=Delivery.Status.PENDING,
        ).values_list("pk", flat=True)
    )
    return ids, len(rows)


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Hand deliveries to the workers (after commit). If the broker is down they stay pending
    and the sweeper hands them over again."""
    if not delivery_ids:
        return
    from ..tasks import deliver_comms_task

    for delivery_id in delivery_ids:
        try:
            deliver_comms_task.delay(delivery_id)
        except Exception:
            log.warning("could not enqueue delivery %s; the sweeper will retry", delivery_id)
            return


def delivery_deliver(delivery_id: int) -> str:
    """Send one delivery.

    1. Claim it: a conditional UPDATE pending→sending (attempts+1, lease) that exactly one
       worker wins; a delivery already sent, failed or being sent is left alone.
    2. Send through its transport (outside any transaction).
    3. Record the outcome (`_delivery_record`): sent; pending again after a backoff when
       retryable and attempts remain; or failed, noted on the incident's timeline.
    A database connection lost on the way is replaced and the step tried again
    (incidents.db), as for pages. Returns the resulting status."""
    now = timezone.now()
    lease = now + timedelta(seconds=LEASE_SECONDS)
    claimed = claim_row(
        Delivery,
        delivery_id,
        where={"status": Delivery.Status.PENDING, "next_attempt_at__lte": now},
        changes={
            "status": Delivery.Status.SENDING,
            "attempts": F("attempts") + 1,
            "lease_until": lease,
        },
    )
    if not claimed:
        return "skipped"
    delivery = on_fresh_connection(Delivery.objects.select_related("incident").get, pk=delivery_id)
    outcome = TRANSPORTS[delivery.channel](delivery)
    status = on_fresh_connection(_delivery_record, delivery, outcome, lease)
    if status == Delivery.Status.PENDING:
        from ..tasks import deliver_comms_task

        try:
            deliver_comms_task.apply_async((delivery.pk,), eta=delivery.next_attempt_at)
        except Exception:
            log.warning("could not schedule retry of delivery %s", delivery.pk, exc_info=True)
    return status


def _delivery_record(delivery: Delivery, outcome, lease: datetime) -> str:
    """Record a send's outcome, unless the delivery is no longer this send's (`lease` ran out
    and another worker has it, or an earlier try committed before the connection dropped)."""
    with transaction.atomic():
        if (status := lease_lost(Delivery, delivery.pk, lease)) is not None:
            return status
        now = timezone.now()
        delivery.response_code = outcome.code
        delivery.last_error = outcome.error[:500]
        delivery.lease_until = None
        if outcome.ok:
            delivery.status, delivery.sent_at = Delivery.Status.SENT, now
        elif outcome.retryable and delivery.attempts < MAX_ATTEMPTS:
            delivery.status = Delivery.Status.PENDING
            delivery.next_attempt_at = now + timedelta(
                seconds=_backoff(delivery.attempts, outcome.retry_after)
            )
        else:
            delivery.status = Delivery.Status.FAILED
            what = "Customer email" if delivery.channel == "email" else "Team webhook post"
            # Everyone who may open the incident reads its timeline: the address or webhook
            # URL (a credential) is masked there.
            error = text_without_target(outcome.error, delivery.target)
            timeline_record(
                delivery.incident,
                TimelineKind.NOTE,
                f"{what} to {contact_target_masked(delivery.target)} failed after "
                f"{delivery.attempts} attempt(s): {error}",
                occurred_at=now,
                data={"delivery": delivery.pk, "error": error, "code": outcome.code},
            )
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


def deliveries_requeue_stale(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Deliveries a worker should have handled by now: pending past the grace period (the
    hand-off was lost) or sending past their lease (the worker died mid-send). Returns the
    ids handed to the workers again."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=REQUEUE_GRACE_SECONDS)
    with transaction.atomic():
        Delivery.objects.filter(status=Delivery.Status.SENDING, lease_until__lt=now).update(
            status=Delivery.Status.PENDING, lease_until=None
        )
        stale = list(
            Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=grace)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        # Push them forward so each is re-sent once per grace period, not on every sweep.
        Delivery.objects.filter(pk__in=stale).update(next_attempt_at=now)
    deliveries_enqueue(stale)
    return stale
