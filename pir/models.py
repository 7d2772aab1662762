"""Post-incident reviews (procedures 8): the review document (8.2), its editable copy of the
incident's timeline, its action items (8.4), and the Engineering Manager's review digests.

Writes go through `pir.services`; reads for a request through `pir.selectors`, which reach
incidents only through `incidents.selectors` (restricted incidents stay restricted)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from incidents.outbox import OutboxRow

JIRA_LABEL = "incident-action"  # procedures 8.4: "tracked in Jira with `incident-action` label"


class PirStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"


class PostIncidentReview(ConcurrentTransitionMixin, models.Model):
    """One review per incident (the one-to-one key is why a reopened and re-resolved incident
    never gets a second). Rich-text fields are Markdown; list fields are JSON lists of
    Markdown strings."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.PROTECT, related_name="pir"
    )
    status = FSMField(default=PirStatus.DRAFT, choices=PirStatus.choices, protected=True)
    required = models.BooleanField(
        help_text="Required by the policy (8.1), or created by choice (an optional P3 review)."
    )
    due_at = models.DateTimeField(db_index=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_date = models.DateField(null=True, blank=True, help_text="When the review meeting is.")

    summary = models.TextField(blank=True, help_text="2-3 paragraph executive summary.")
    customers_affected = models.CharField(max_length=200, blank=True, help_text="Number or %.")
    requests_failed = models.BigIntegerField(null=True, blank=True)
    revenue_impact = models.CharField(max_length=200, blank=True, help_text="If applicable.")
    sla_impact_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Minutes of downtime counted against the SLA."
    )
    what_happened = models.TextField(blank=True, help_text="Detailed technical explanation.")
    five_whys = models.JSONField(default=list, blank=True, help_text="Why it happened, in order.")
    contributing_factors = models.JSONField(default=list, blank=True)
    went_well = models.JSONField(default=list, blank=True)
    could_improve = models.JSONField(default=list, blank=True)
    lessons_learned = models.TextField(blank=True)
    appendix_links = models.JSONField(
        default=list, blank=True, help_text='[{"title": ..., "url": ...}]: logs, metrics, docs.'
    )

    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "post-incident review"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self):
        return f"PIR-{self.pk} for INC-{self.incident_id}"

    @property
    def reference(self) -> str:
        return f"PIR-{self.pk}"

    # --- workflow: draft -> in review -> published (transitions only set fields) ------------
    @transition(field=status, source=PirStatus.DRAFT, target=PirStatus.IN_REVIEW)
    def submit(self, at):
        self.submitted_at = at

    @transition(field=status, source=PirStatus.IN_REVIEW, target=PirStatus.DRAFT)
    def return_to_draft(self, at):
        self.submitted_at = None

    @transition(field=status, source=PirStatus.IN_REVIEW, target=PirStatus.PUBLISHED)
    def publish(self, at, by=None):
        self.published_at = at
        self.published_by = by


class PirTimelineEntry(models.Model):
    """A row of the review's timeline: a copy of an incident timeline event (its id kept in
    `source_event`) that the authors may correct, or a row they added (no source)."""

    pir = models.ForeignKey(PostIncidentReview, on_delete=models.CASCADE, related_name="entries")
    source_event = models.ForeignKey(
        "incidents.TimelineEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    occurred_at = models.DateTimeField()
    text = models.TextField()
    kind = models.CharField(max_length=32, blank=True, help_text="The source event's kind.")
    edited = models.BooleanField(default=False)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pir", "source_event"],
                condition=Q(source_event__isnull=False),
                name="pir_entry_one_copy_per_event",
            )
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.text[:60]}"


class ActionPriority(models.TextChoices):
    P1 = "P1", "P1"
    P2 = "P2", "P2"
    P3 = "P3", "P3"


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Won't do"


OPEN_ACTION_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)


# What every action item must have (8.2's Action Items table: Owner, Due Date; 8.3 "Assign
# owners"). The columns stay nullable: rows written before the rule keep loading, and are
# shown as needing what they lack until someone supplies it (pir.services enforces it on
# every write).
ACTION_REQUIRED_FIELDS = ("owner", "due_date")


class ActionItem(models.Model):
    """An action item (8.4), linked to its review and its incident."""

    pir = models.ForeignKey(
        PostIncidentReview, on_delete=models.PROTECT, related_name="action_items"
    )
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="action_items"
    )
    action = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    priority = models.CharField(max_length=2, choices=ActionPriority.choices)
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ActionStatus.choices, default=ActionStatus.OPEN, db_index=True
    )
    label = models.CharField(max_length=64, default=JIRA_LABEL, editable=False)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When it was done.")
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it left the open statuses (done or won't do)."
    )
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Raised by every change; a stale edit is refused."
    )

    class Meta:
        ordering = ["pir", "priority", "due_date", "id"]
        indexes = [models.Index(fields=["status", "priority"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(status="done"),
                name="action_completed_only_when_done",
            )
        ]

    def __str__(self):
        return f"[{self.priority}] {self.action}"

    @property
    def missing_fields(self) -> list[str]:
        """The required fields it lacks (only rows from before the rule can lack any)."""
        values = {"owner": self.owner_id, "due_date": self.due_date}
        return [name for name in ACTION_REQUIRED_FIELDS if values[name] is None]


class ActionDigestDelivery(OutboxRow):
    """One review digest (8.4) to one Engineering Manager for one period: a row of the core's
    outbox (kind "pir-digest", pir/digests.py). Written before the send; the idempotency key
    (action priority, period, manager) makes a second row impossible."""

    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    priority = models.CharField(
        max_length=2, help_text="The action items' priority this digest reviews (8.4)."
    )
    period_start = models.DateField()
    period_end = models.DateField()
    to_address = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    action_items = models.ManyToManyField(ActionItem, related_name="+", blank=True)

    class Meta:
        ordering = ["-period_start", "priority", "id"]
        verbose_name_plural = "action digest deliveries"
        indexes = [
            # What the outbox sweep reads every 2 s (as every kind's): the outstanding rows only.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="pir_digest_outstanding",
            ),
        ]

    def __str__(self):
        return f"{self.priority} actions, {self.period_start}, to {self.manager} ({self.status})"
