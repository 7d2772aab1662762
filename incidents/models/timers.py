"""Timers are rows (docs/architecture.md, Conventions). A deadline is a `Deadline` row with
`due_at`; the sweeper claims due rows with a conditional UPDATE and fires each in one
transaction with the pages it sends and the timeline event it writes. A page is a `Page` row,
a row of the delivery outbox written before any send, with an idempotency key per (incident,
rule, recipient, contact method)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..outbox import OutboxRow


class Deadline(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        FIRED = "fired", "Fired"
        CANCELLED = "cancelled", "Cancelled"
        # Already past when it was planned, below a higher escalation also past: that one
        # fires as the catch-up and names this one; nobody is paged for it.
        SKIPPED = "skipped", "Skipped (caught up)"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="deadlines"
    )
    kind = models.CharField(max_length=32, help_text="escalation, notify, …")
    key = models.CharField(
        max_length=64, help_text="Which rule: at most one deadline per incident and key."
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    fired_at = models.DateTimeField(null=True, blank=True)
    lateness_ms = models.IntegerField(
        null=True,
        blank=True,
        help_text="fired_at - max(due_at, created_at): the sweeper's delay after the deadline "
        "could first fire.",
    )
    data = models.JSONField(default=dict, blank=True, help_text="The rule as planned (snapshot).")
    created_at = models.DateTimeField(
        default=timezone.now, help_text="When it was planned (the re-plan's time)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "key"], name="one_deadline_per_incident_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(status="pending"), name="deadline_pending_due"
            ),
            models.Index(fields=["status", "fired_at"]),
        ]

    def __str__(self):
        return f"{self.key} due {self.due_at:%Y-%m-%d %H:%M:%S} ({self.status})"


class Page(OutboxRow):
    """One message to one person through one contact method: a row of the core's outbox, kind
    "page" (incidents/outbox.py; registered in incidents/services/paging.py). Exists before the
    send; holds the outcome. The idempotency key (incident, rule, recipient, contact method)
    makes a second page for the same reason impossible. A drill's pages are written
    `suppressed` and never sent; `cancelled` is an SRE lead giving a waiting page up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SUPPRESSED = "suppressed", "Suppressed (drill)"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="pages"
    )
    deadline = models.ForeignKey(
        Deadline, on_delete=models.PROTECT, null=True, blank=True, related_name="pages"
    )
    rule_key = models.CharField(max_length=64)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=16, help_text="email, slack, webhook or pagerduty")
    target = models.CharField(max_length=500)
    secret = models.CharField(max_length=128, blank=True)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # Longer than the outbox's 120: (incident, rule, recipient, contact method).
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Always given by whoever writes the row (as before the outbox): no default, so SQLite has
    # no table to rebuild for one.
    next_attempt_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="page_outstanding",
            ),
        ]

    def __str__(self):
        return f"{self.recipient} via {self.channel}: {self.status}"


class EscalationResponse(models.Model):
    """An escalation contact of 5.3 paged about an incident, once there is something to record
    about their answer: a 5.4 request (written with it), or a 5.1 escalation they acknowledged,
    or were late to acknowledge (written then; until then the fired escalation deadline is the
    record, so the sweeper writes nothing more when it escalates). The `response` deadline
    kind marks a contact silent past their response time late, and the next contact is
    offered to the IC. Who was paged are the pages of `rule_key` (never copied here)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="escalation_responses"
    )
    rule_key = models.CharField(
        max_length=64, help_text="The escalation's pages: rule:<id> (5.1) or manual:<id> (5.4)."
    )
    target = models.CharField(max_length=32, help_text="The contact's role (5.3).")
    contact_name = models.CharField(max_length=64)
    response_minutes = models.PositiveIntegerField(help_text="As the policy said when paged.")
    trigger = models.CharField(
        max_length=16, blank=True, help_text="The 5.1 rule's trigger; empty for a request."
    )
    paged_at = models.DateTimeField()
    due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    late_at = models.DateTimeField(null=True, blank=True)
    next_response = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="previous",
        help_text="The next contact paged because this one was late.",
    )

    class Meta:
        ordering = ["paged_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "rule_key"], name="one_response_per_escalation"
            ),
        ]

    def __str__(self):
        return f"{self.contact_name} ({self.status})"

    @property
    def status(self) -> str:
        if self.acknowledged_at is not None:
            return "acknowledged"
        return "late" if self.late_at is not None else "awaiting"
