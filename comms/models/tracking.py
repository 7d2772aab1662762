"""What communications owe and what was delivered: one `CommsObligation` per deadline the
procedures set (2.1, 6.3) with its target, the post that met it and whether it was met; one
`Delivery` per recipient of an update (a customer contact's email, a team's webhook), written
before any send with an idempotency key (docs/architecture.md, Conventions)."""

from django.db import models
from django.db.models import Q

from incidents.outbox import OutboxRow


class CommsObligation(models.Model):
    """One communication deadline of one incident: the first status-page update within N
    minutes, the next internal update within M minutes of the last, the resolved update.
    Kept by `comms.services.obligations` (posts meet them) and `comms.deadlines` (the timer
    engine's firer marks them missed)."""

    class Channel(models.TextChoices):
        STATUS_PAGE = "status_page", "Status page"
        INTERNAL = "internal", "Internal update"
        CUSTOMER_EMAIL = "customer_email", "Customer email"
        # 2.1 "Customer communication within N minutes" when customer email is not on a
        # cadence (P2: email only at the end): met by a status-page post or a customer email.
        CUSTOMER_FIRST = "customer_first", "First customer communication"

    class Kind(models.TextChoices):
        FIRST = "first", "First update (counted from detection)"
        CADENCE = "cadence", "Next update (counted from the last)"
        RESOLVED = "resolved", "Resolved update (due at resolution)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        MET = "met", "Met"
        MISSED = "missed", "Missed"
        CANCELLED = "cancelled", "No longer applies"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="comms_obligations"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    sequence = models.PositiveIntegerField(help_text="1 for the channel's first obligation.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    counted_from = models.DateTimeField(help_text="The instant the interval counts from.")
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: expected without a deadline (P3 initial)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    met_at = models.DateTimeField(
        null=True, blank=True, help_text="When the update that covered it was posted."
    )
    met_by_update = models.ForeignKey(
        "comms.Update", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    missed_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["incident", "channel", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "channel", "sequence"], name="one_obligation_per_sequence"
            ),
            # At most one open obligation per channel: the planner and posts rely on it.
            models.UniqueConstraint(
                fields=["incident", "channel"],
                condition=Q(status="pending"),
                name="one_pending_obligation_per_channel",
            ),
        ]

    def __str__(self):
        due = f"{self.due_at:%Y-%m-%d %H:%M}" if self.due_at else "no deadline"
        return f"{self.get_channel_display()} #{self.sequence} due {due} ({self.status})"


class Delivery(OutboxRow):
    """One update to one recipient: a customer contact's email or a team's webhook, a row of
    the core's outbox (kind "comms-delivery", comms/services/deliveries.py). Exists before
    the send and holds the outcome; the idempotency key (incident, update, recipient) is
    unique, so a re-run never sends twice. Has the attributes `incidents.notify`'s transports
    read (channel, target, subject, body, idempotency_key). A drill's rows are written
    `suppressed` and never sent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SUPPRESSED = "suppressed", "Suppressed (drill)"

    CHANNELS = [("email", "Email"), ("slack", "Slack-compatible webhook")]

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="comms_deliveries"
    )
    update = models.ForeignKey("comms.Update", on_delete=models.PROTECT, related_name="deliveries")
    contact = models.ForeignKey(
        "comms.CustomerContact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    team = models.ForeignKey(
        "incidents.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=CHANNELS)
    target = models.CharField(max_length=500)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="comms_delivery_outstanding",
            ),
        ]

    def __str__(self):
        return f"{self.target} via {self.channel}: {self.status}"
