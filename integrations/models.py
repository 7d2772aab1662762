"""Detection sources and outgoing webhooks.

Incoming: an `Integration` is one sender (Alertmanager, Grafana, a PagerDuty Events v2 client,
a generic JSON webhook) with its own secret. Every accepted request is first stored as an
`InboundDelivery` (the raw body: nothing accepted is lost), then turned into `Alert`s inside
`AlertGroup`s. The dedup identity is a unique constraint in the database: (integration,
group_key) for a group and (group, fingerprint) for an alert, so any number of parallel
deliveries of one payload make one group, one alert and one incident.

Outgoing: a `WebhookSubscription` (managed by SRE leads) receives incident events; each
(subscription, timeline event) is one `WebhookDelivery` row, written in the transaction of the
event and delivered after commit, in order per incident. A disabled subscription's rows are
written too, held, and sent in order when it is enabled again.
"""

import hashlib
import hmac
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents.outbox import OutboxRow

DEFAULT_SEVERITY_MAP = {
    "critical": "P1",
    "error": "P2",
    "major": "P2",
    "warning": "P3",
    "info": "P4",
}


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Integration(models.Model):
    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
        GRAFANA = "grafana", "Grafana alerting"
        PAGERDUTY = "pagerduty", "PagerDuty Events API v2 (compatible)"
        WEBHOOK = "webhook", "Generic JSON webhook"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    # Only a digest is kept: the secret is shown once, at creation or rotation.
    secret_hash = models.CharField(max_length=64, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    signing_secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Grafana only: the contact point's HMAC secret. When set, every request must "
        "carry a valid X-Grafana-Alerting-Signature.",
    )
    severity_map = models.JSONField(
        default=dict,
        blank=True,
        help_text='Label value → severity, e.g. {"critical": "P1", "warning": "P3"}. '
        "Empty: the default mapping (critical→P1, error/major→P2, warning→P3, info→P4).",
    )
    default_severity = models.CharField(
        max_length=2,
        default="P3",
        help_text="Severity when an alert carries no (known) severity.",
    )
    declares_security = models.BooleanField(
        default=False,
        help_text="A security tool (procedures 4.1: SIEM, WAF): every incident it opens is a "
        "security incident. Any integration's alert labelled security=true opens one too.",
    )
    resolve_to_monitoring = models.BooleanField(
        default=False,
        help_text="When every alert of an incident has resolved, move it to Monitoring "
        "(or note on the timeline that it could not move).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def set_secret(self, secret: str) -> None:
        self.secret_hash = secret_digest(secret)

    def check_secret(self, secret: str) -> bool:
        return bool(self.secret_hash) and hmac.compare_digest(
            secret_digest(secret), self.secret_hash
        )

    def severity_for(self, value: str | None) -> str | None:
        """The severity a label value maps to, or None when it maps to nothing."""
        if not value:
            return None
        mapping = {
            str(k).lower(): v for k, v in (self.severity_map or DEFAULT_SEVERITY_MAP).items()
        }
        text = str(value).strip()
        if text.upper() in ("P1", "P2", "P3", "P4"):
            return text.upper()
        return mapping.get(text.lower())


class InboundDelivery(models.Model):
    """One accepted request, stored (committed) before anything else happens: the row is the
    queue. Workers apply received rows oldest first, one group's in the order received
    (`integrations.services.ingest.inbound_apply_pending`); a failed try is retried with
    backoff (`retry_at`) until MAX_PROCESS_ATTEMPTS, then the row is marked failed."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed (see error)"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField()
    # The alert group the payload belongs to (AlertGroup.group_key), read when it was
    # accepted: deliveries of one group are applied one after another, in this table's order.
    group_key = models.CharField(max_length=500, blank=True, db_default="")
    body = models.TextField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "inbound deliveries"
        indexes = [
            models.Index(
                fields=["received_at"], condition=Q(status="received"), name="inbound_unprocessed"
            ),
            models.Index(
                fields=["integration", "group_key", "id"],
                condition=Q(status="received"),
                name="inbound_unprocessed_group",
            ),
        ]

    def __str__(self):
        return f"{self.integration} at {self.received_at:%Y-%m-%d %H:%M:%S} ({self.status})"


class AlertGroup(models.Model):
    """What one incident is opened for: Alertmanager's and Grafana's groupKey, PagerDuty's
    routing key + dedup_key, the generic webhook's dedup_key. The incident is the open one of
    the group; after it resolves, a new firing alert opens a new one."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="groups")
    group_key = models.CharField(max_length=500)
    title = models.CharField(max_length=200, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "group_key"], name="one_alert_group_per_key"
            )
        ]

    def __str__(self):
        return self.title or self.group_key[:80]


class Alert(models.Model):
    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=300)
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The incident this alert last fired into.",
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=2, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    source_url = models.CharField(max_length=1000, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    times_received = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "fingerprint"], name="one_alert_per_fingerprint"
            )
        ]
        indexes = [models.Index(fields=["incident", "status"])]

    def __str__(self):
        return f"{self.title} ({self.status})"


class WebhookSubscription(models.Model):
    """An outgoing webhook: which incident events go where, signed with its secret."""

    class Event(models.TextChoices):
        DECLARED = "declared", "Incident declared"
        STATUS_CHANGED = "status_changed", "Status changed (includes resolved)"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        ESCALATED = "escalated", "Escalated"
        PIR_PUBLISHED = "pir_published", "Post-incident review published"

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=200, default=new_secret, help_text="HMAC-SHA256 key of X-TenSafe-Signature."
    )
    events = models.JSONField(default=list, help_text="Event names; see the choices.")
    enabled = models.BooleanField(default=True)
    allow_restricted = models.BooleanField(
        default=False,
        help_text="Also receives events of security (restricted) incidents.",
    )
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class WebhookDelivery(OutboxRow):
    """One event to one subscription, a row of the core's outbox (kind "outgoing-webhook",
    integrations/services/outgoing.py): exists before the send, holds the outcome. Ids grow in
    commit order per incident (events of an incident are written under its row lock), which is
    the order deliveries go out in: (subscription, incident) is the kind's ordering key. While
    the subscription is disabled its rows are `held`; enabling it releases them (pending, in
    order), or marks those held too long `expired`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SUPPRESSED = "suppressed", "Suppressed (drill)"
        HELD = "held", "Held (subscription disabled)"
        EXPIRED = "expired", "Expired (held longer than TENSAFE_WEBHOOK_HOLD_DAYS)"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="+")
    timeline_event = models.ForeignKey(
        "incidents.TimelineEvent", on_delete=models.PROTECT, related_name="+"
    )
    event = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["subscription", "incident", "id"],
                condition=Q(status__in=["pending", "sending", "held"]),
                name="webhook_outstanding",
            ),
        ]

    def __str__(self):
        return f"{self.event} → {self.subscription}: {self.status}"
