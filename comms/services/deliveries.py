"""Deliveries of an update: one row per recipient (a customer contact's email, a team's
webhook), written in the posting transaction before any send, with an idempotency key per
(incident, update, recipient) that is unique in the database. The rows are the core outbox's
kind "comms-delivery" (incidents/outbox.py), which claims, sends, retries and re-hands them;
this module builds them and says how one is sent (`DeliverySender`): through
`incidents.notify`'s transports, so webhooks pass the same outbound-address guard."""

from __future__ import annotations

import logging
from datetime import datetime

from incidents.notify import TRANSPORTS, Outcome
from incidents.outbox import RetryPolicy, register_outbox_kind
from incidents.redaction import Message, contact_target_masked, incident_message
from incidents.services.timeline import timeline_delivery_failed
from incidents.states import TimelineKind

from ..models import CustomerContact, Delivery, TeamWebhook, Update
from ..render import CUSTOMER_PLACEHOLDER

KIND = "comms-delivery"
# As pages: 6 tries, 2 s doubling to 5 min, on timeouts, connection failures, 5xx and 429; a
# send taking longer than a minute is presumed dead, a hand-off not taken in 10 s lost.
POLICY = RetryPolicy(
    attempts=6, base_seconds=2, cap_seconds=300, lease_seconds=60, requeue_grace_seconds=10
)

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


class DeliverySender:
    """How the outbox sends a "comms-delivery" row, and what a final failure leaves: a note on
    the incident's timeline, with the address or webhook URL (a credential) masked, since
    everyone who may open the incident reads it."""

    def send(self, delivery: Delivery) -> Outcome:
        return TRANSPORTS[delivery.channel](delivery)

    def final_failure(self, delivery: Delivery, outcome: Outcome) -> None:
        what = "Customer email" if delivery.channel == "email" else "Team webhook post"
        timeline_delivery_failed(
            delivery.incident,
            TimelineKind.NOTE,
            f"{what} to {contact_target_masked(delivery.target)} failed after "
            f"{delivery.attempts} attempt(s)",
            row=delivery,
            row_key="delivery",
            outcome=outcome,
        )


def register() -> None:
    """Called from CommsConfig.ready()."""
    register_outbox_kind(
        KIND,
        model=Delivery,
        sender=DeliverySender(),
        policy=POLICY,
        select_related=("incident",),
        incident_path="incident",
    )
