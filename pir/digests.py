"""The action-item review (procedures 8.4: "P1 actions reviewed weekly by Engineering
Manager", "P2 actions reviewed bi-weekly"): a digest of the open action items, per severity
whose policy sets `action_review_every_days`, to the Engineering Manager of each incident's
teams, once per period.

A delivery row is written before any send, with an idempotency key per (severity, period,
manager) that is unique in the database, so re-running the beat task, or two of them at
once, never writes a second digest. The rows are the core outbox's "pir-digest" kind
(incidents/outbox.py): it claims them under a lease, sends, retries and re-hands them; this
module only plans them and says how one is sent (`DigestEmailSender`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.escalation import Recipients
from incidents.models import SeverityPolicy
from incidents.notify import Outcome, email_send
from incidents.outbox import RetryPolicy, outbox_enqueue, register_outbox_kind
from incidents.selectors import incident_list_for_user, policy_for

from .models import OPEN_ACTION_STATUSES, ActionDigestDelivery, ActionItem

log = logging.getLogger(__name__)

# Periods are counted from a Monday, so weekly digests cover Monday-Sunday weeks and two-weekly
# ones a fixed pair of them.
PERIOD_ANCHOR = date(2024, 1, 1)
KIND = "pir-digest"
# 5 tries an hour apart (a digest is a weekly read: no hurry, and no point hammering a mail
# server that is down).
POLICY = RetryPolicy(
    attempts=5, base_seconds=3600, cap_seconds=3600, lease_seconds=120, requeue_grace_seconds=15
)
Delivery = ActionDigestDelivery


def digest_period(day: date, every_days: int) -> tuple[date, date]:
    index = (day - PERIOD_ANCHOR).days // every_days
    start = PERIOD_ANCHOR + timedelta(days=index * every_days)
    return start, start + timedelta(days=every_days - 1)


def _body(manager, severity: str, start: date, end: date, items: list[ActionItem], now) -> str:
    lines = [
        f"Open {severity} incident action items for your review ({start} to {end}).",
        f"Procedures 8.4: {severity} actions are reviewed every "
        f"{policy_for(severity).action_review_every_days} days.",
        "",
    ]
    for item in items:
        overdue = item.due_date is not None and item.due_date < now.date()
        lines.append(
            f"- [{item.priority}] {item.action} — {item.owner or 'no owner'}, "
            f"due {item.due_date or 'not set'}{' (OVERDUE)' if overdue else ''}, "
            f"{item.get_status_display()} — {item.incident.reference} / {item.pir.reference}"
        )
    lines += ["", f"Action items: {settings.PUBLIC_BASE_URL}/api/v1/pirs/action-items/"]
    return "\n".join(lines)


def action_digests_plan(*, now: datetime | None = None) -> list[int]:
    """Write the delivery rows due for the current period of every severity with a review
    cadence (one per Engineering Manager with open items they may see). Returns the new rows'
    ids; they are handed to the workers after commit."""
    now = now or timezone.now()
    new_ids: list[int] = []
    recipients = Recipients(now)
    for policy in SeverityPolicy.objects.filter(action_review_every_days__isnull=False):
        start, end = digest_period(now.date(), policy.action_review_every_days)
        items = (
            ActionItem.objects.filter(
                incident__severity=policy.severity, status__in=OPEN_ACTION_STATUSES
            )
            .select_related("incident", "pir", "owner")
            .prefetch_related("incident__services__team")
            .order_by("priority", "due_date", "id")
        )
        per_manager: dict[int, tuple] = {}
        grouped: dict[int, list[ActionItem]] = defaultdict(list)
        for item in items:
            managers, _note = recipients.resolve("engineering_manager", item.incident)
            for manager in managers:
                per_manager[manager.pk] = manager
                grouped[manager.pk].append(item)
        for manager_id, manager_items in grouped.items():
            manager = per_manager[manager_id]
            # A manager is told only of incidents they may see (restricted security incidents).
            visible = set(
                incident_list_for_user(manager)
                .filter(pk__in={i.incident_id for i in manager_items})
                .values_list("pk", flat=True)
            )
            manager_items = [i for i in manager_items if i.incident_id in visible]
            if not manager_items or not manager.email:
                continue
            key = f"pir-digest:{policy.severity}:{start}:u{manager.pk}"
            if Delivery.objects.filter(idempotency_key=key).exists():
                continue
            try:
                with transaction.atomic():
                    delivery = Delivery.objects.create(
                        manager=manager,
                        severity=policy.severity,
                        period_start=start,
                        period_end=end,
                        idempotency_key=key,
                        to_address=manager.email,
                        subject=f"[TenSafe IR] {policy.severity} action items to review, "
                        f"{start} to {end} ({len(manager_items)} open)",
                        body=_body(manager, policy.severity, start, end, manager_items, now),
                        created_at=now,
                    )
                    delivery.action_items.set(manager_items)
            except IntegrityError:
                continue  # another run wrote it first: the key is the guarantee
            new_ids.append(delivery.pk)
    if new_ids:
        transaction.on_commit(lambda: outbox_enqueue(KIND, new_ids))
    return new_ids


class DigestEmailSender:
    """How the outbox sends a "pir-digest" row: the planned email, with its idempotency key.
    A final failure stays visible in the admin's list of digests (status "failed", with the
    error) besides the outbox's WARNING log line."""

    def send(self, delivery: ActionDigestDelivery) -> Outcome:
        return email_send(
            EmailMessage(
                subject=delivery.subject,
                body=delivery.body,
                to=[delivery.to_address],
                headers={"X-Idempotency-Key": delivery.idempotency_key},
            )
        )


def register() -> None:
    """Called from PirConfig.ready()."""
    register_outbox_kind(
        KIND,
        model=ActionDigestDelivery,
        sender=DigestEmailSender(),
        policy=POLICY,
        incident_path="action_items__incident",
        many_incidents=True,
    )
