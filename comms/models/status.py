"""The public status page's own rows: scheduled maintenance, email subscribers, and one
delivery row per (status-page update, subscriber), written before any send
(docs/architecture.md, Conventions)."""

from django.db import models
from django.db.models import F, Q

from incidents.outbox import OutboxRow


class Maintenance(models.Model):
    """Scheduled maintenance shown on the status page while upcoming or in progress.
    Edited in the admin by SRE leads."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Shown publicly: what and why.")
    services = models.ManyToManyField("incidents.Service", blank=True, related_name="maintenances")
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        verbose_name_plural = "maintenances"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="maintenance_ends_after_start"
            ),
        ]

    def __str__(self):
        return f"{self.title} ({self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%H:%M} UTC)"


class Subscriber(models.Model):
    """Someone who asked to be emailed about public status-page updates. Double opt-in: only
    `confirmed` subscribers are told anything."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    email = models.EmailField(max_length=254, unique=True, help_text="Stored lower-cased.")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return f"{self.email} ({self.status})"


class SubscriberDelivery(OutboxRow):
    """One status-page update emailed to one subscriber: a row of the core's outbox (kind
    "status-subscriber", comms/subscribers.py). Exists before the send; the unique (update,
    subscriber) pair gives the idempotency key, so a re-run never mails twice. `cancelled`
    means the subscriber left before it was sent."""

    update = models.ForeignKey("comms.Update", on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "subscriber deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["update", "subscriber"], name="one_delivery_per_update_subscriber"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="status_delivery_outstanding",
            ),
        ]

    def __str__(self):
        return f"{self.idempotency_key}: {self.status}"
