"""The action-item review (procedures 8.4: "P1 actions reviewed weekly by Engineering
Manager", "P2 actions reviewed bi-weekly"): a digest of the open action items of each priority
whose review cadence the policy sets, to the Engineering Manager of each item's incident's
teams, once per period.

8.4 speaks of the *actions'* priority (the 8.2 table gives each action a priority P1/P2/P3),
not of the incident's severity: a P1 action of a P3 incident is reviewed weekly, a P3 action
of a P1 incident is in no digest. The cadence is the policy's `action_review_every_days` of the
severity row of the same name (P1 7, P2 14, P3 none), so it stays editable in one place. Items
without an owner or a due date (from before that rule) are listed as needing them.

A delivery row is written before any send, with an idempotency key per (priority, period,
manager) that is unique in the database, so re-running the beat task, or two of them at
once, never writes a second digest. The rows are the core outbox's "pir-digest" kind
(incidents/outbox.py): it claims them under a lease, sends, retries and re-hands them; this
module only plans them and says how one is sent (`DigestEmailSender`)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.escalation import Recipients
from incidents.models import SeverityPolicy
from incidents.notify import Outcome, email_compose, email_send
from incidents.outbox import RetryPolicy, outbox_enqueue, register_outbox_kind
from incidents.selectors import incident_list_for_user

from .models import OPEN_ACTION_STATUSES, ActionDigestDelivery, ActionItem, ActionPriority

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


def _line(item: ActionItem, today: date) -> str:
    owner = item.owner or "NEEDS AN OWNER"
    due = item.due_date or "NEEDS A DUE DATE"
    overdue = " (OVERDUE)" if item.due_date is not None and item.due_date < today else ""
    return (
        f"- [{item.priority}] {item.action} — {owner}, due {due}{overdue}, "
        f"{item.get_status_display()} — {item.incident.reference} "
        f"({item.incident.severity}) / {item.pir.reference}"
    )


def _body(priority: str, every_days: int, start: date, end: date, items, now) -> str:
    lines = [
        f"Open {priority} action items for your review ({start} to {end}).",
        f"Procedures 8.4: {priority} actions are reviewed every {every_days} days, whatever "
        "the incident's severity.",
        "",
        *(_line(item, now.date()) for item in items),
        "",
        f"Action items: {settings.PUBLIC_BASE_URL}/api/v1/pirs/action-items/?priority={priority}",
    ]
    return "\n".join(lines)


def _by_manager(items, recipients: Recipients) -> dict[int, tuple]:
    """{manager id: (manager, [items of incidents they may see])}."""
    grouped: dict[int, tuple] = {}
    for item in items:
        managers, _note = recipients.resolve("engineering_manager", item.incident)
        for manager in managers:
            grouped.setdefault(manager.pk, (manager, []))[1].append(item)
    out = {}
    for manager_id, (manager, manager_items) in grouped.items():
        # A manager is told only of incidents they may see (restricted security incidents).
        visible = set(
            incident_list_for_user(manager)
            .filter(pk__in={i.incident_id for i in manager_items})
            .values_list("pk", flat=True)
        )
        manager_items = [i for i in manager_items if i.incident_id in visible]
        if manager_items and manager.email:
            out[manager_id] = (manager, manager_items)
    return out


def action_digests_plan(*, now: datetime | None = None) -> list[int]:
    """Write the delivery rows due for the current period of every action priority with a
    review cadence (one per Engineering Manager with open items they may see). Returns the
    new rows' ids; they are handed to the workers after commit."""
    now = now or timezone.now()
    new_ids: list[int] = []
    recipients = Recipients(now)
    cadences = SeverityPolicy.objects.filter(
        severity__in=ActionPriority.values, action_review_every_days__isnull=False
    ).values_list("severity", "action_review_every_days")
    for priority, every_days in cadences:
        start, end = digest_period(now.date(), every_days)
        items = (
            ActionItem.objects.filter(priority=priority, status__in=OPEN_ACTION_STATUSES)
            .select_related("incident", "pir", "owner")
            .prefetch_related("incident__services__team")
            .order_by("due_date", "id")
        )
        for manager, manager_items in _by_manager(items, recipients).values():
            key = f"pir-digest:action-{priority}:{start}:u{manager.pk}"
            if Delivery.objects.filter(idempotency_key=key).exists():
                continue
            try:
                with transaction.atomic():
                    delivery = Delivery.objects.create(
                        manager=manager,
                        priority=priority,
                        period_start=start,
                        period_end=end,
                        idempotency_key=key,
                        to_address=manager.email,
                        subject=f"[TenSafe IR] {priority} action items to review, "
                        f"{start} to {end} ({len(manager_items)} open)",
                        body=_body(priority, every_days, start, end, manager_items, now),
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
            email_compose(
                subject=delivery.subject,
                text=delivery.body,
                to=delivery.to_address,
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
