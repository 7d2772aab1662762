"""What an SRE lead may do to a delivery in the outbox (incidents/outbox.py): send it again now,
or give it up. Each is one transaction that locks the row, checks the rule, changes it and
writes the audit row; the hand-off to the workers follows the commit."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ..errors import TransitionRefused
from ..outbox import OutboxStatus, outbox_enqueue
from ..permissions import require_sre_lead
from ..selectors import outbox_rows_of_kind
from ..states import AuditAction
from .audit import audit_record

RETRYABLE = (OutboxStatus.FAILED, OutboxStatus.PENDING)
GIVE_UP_FROM = (OutboxStatus.PENDING,)


def outbox_actions_open(status: str) -> set[str]:
    """The actions a row in `status` may take now, named as the API's URLs name them
    ("retry", "give-up"), for the buttons a page offers (the services decide again under
    lock: the row may have moved meanwhile)."""
    allowed = {"retry": RETRYABLE, "give-up": GIVE_UP_FROM}
    return {action for action, statuses in allowed.items() if status in statuses}


def _locked_row(actor, kind: str, row_id: int):
    require_sre_lead(actor)
    try:
        rows = outbox_rows_of_kind(actor, kind, for_update=True)
    except LookupError:
        raise Http404("No such outbox kind.") from None
    row = rows.filter(pk=row_id).first()
    if row is None:
        raise Http404("No such delivery in this outbox kind.")
    return row


def _refuse(row, action: str, allowed_from) -> None:
    if row.status not in allowed_from:
        raise TransitionRefused(
            f"A delivery that is {row.status} cannot be {action}; only one that is "
            f"{' or '.join(allowed_from)} can.",
            allowed=[str(s) for s in allowed_from],
        )


@transaction.atomic
def outbox_retry(*, actor, kind: str, row_id: int):
    """Send a failed or waiting delivery now: pending and due at once; a failed one gets its
    kind's full number of attempts again. Not one that is being sent, sent, cancelled or
    suppressed (409)."""
    row = _locked_row(actor, kind, row_id)
    _refuse(row, "retried", RETRYABLE)
    before = row.status
    row.status, row.next_attempt_at, row.lease_until = OutboxStatus.PENDING, timezone.now(), None
    if before == OutboxStatus.FAILED:
        row.attempts = 0
    row.save(update_fields=["status", "next_attempt_at", "lease_until", "attempts"])
    audit_record(
        AuditAction.OUTBOX_RETRIED,
        actor=actor,
        target=row,
        details={"kind": kind, "key": row.idempotency_key, "was": before},
    )
    transaction.on_commit(lambda: outbox_enqueue(kind, [row.pk]))
    return row


@transaction.atomic
def outbox_give_up(*, actor, kind: str, row_id: int):
    """Stop trying a delivery that waits for its next try: cancelled, with who gave it up.
    Not one that is being sent (its outcome is on its way) or already settled (409)."""
    row = _locked_row(actor, kind, row_id)
    _refuse(row, "given up", GIVE_UP_FROM)
    row.status = OutboxStatus.CANCELLED
    row.last_error = f"Given up by {actor.get_username()}; last error: {row.last_error}"[:500]
    row.save(update_fields=["status", "last_error"])
    audit_record(
        AuditAction.OUTBOX_GIVEN_UP,
        actor=actor,
        target=row,
        details={"kind": kind, "key": row.idempotency_key},
    )
    return row
