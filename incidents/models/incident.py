from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from ..states import Checklist, DetectionSource, Role, Severity, Status


def _resolution_ready(incident: "Incident") -> bool:
    from ..rules import resolution_blockers

    return not resolution_blockers(incident)


class Incident(ConcurrentTransitionMixin, models.Model):
    """An incident and its lifecycle: Investigating -> Identified -> Monitoring -> Resolved.

    Transitions only set fields; the services in `incidents.services` lock the row, check
    permission, run the transition, save and write the timeline in one transaction.
    """

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # What customers see and can do, in words the status page and emails reuse (6.2).
    symptoms = models.TextField(blank=True, help_text="What users may experience.")
    impact = models.TextField(blank=True, help_text="Customer impact, as it stands.")
    workaround = models.TextField(blank=True, help_text="What users can do meanwhile, if anything.")
    severity = models.CharField(max_length=2, choices=Severity.choices, db_index=True)
    status = FSMField(
        default=Status.INVESTIGATING, choices=Status.choices, protected=True, db_index=True
    )
    services = models.ManyToManyField("incidents.Service", blank=True, related_name="incidents")
    detection_source = models.CharField(max_length=32, choices=DetectionSource.choices)
    security = models.BooleanField(
        default=False,
        help_text="Security incident: visible only to the security group and role holders.",
    )
    # A security incident's words for the public (procedures 2.1 and 6.2: the status page and
    # customer email), kept apart from its restricted title and details and approved by the
    # security group; nothing else of a restricted incident is ever public.
    public_title = models.CharField(max_length=200, blank=True)
    public_text = models.TextField(blank=True)
    public_approved_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the security group approved the public title and text; empty: not "
        "approved, so the status page and customer email wait.",
    )
    public_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    drill = models.BooleanField(
        default=False,
        help_text="Game-day drill: every timer runs and every page is recorded, nothing is sent.",
    )
    channel_name = models.CharField(max_length=81, unique=True)
    channel_closed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the incident channel was closed (Appendix A: 24 h after resolution).",
    )
    bridge_url = models.URLField(
        max_length=300,
        blank=True,
        help_text="Empty when the severity's policy sets no bridge (6.1) and none was asked for.",
    )
    bridge_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the IC asked for a bridge the severity does not set up by itself.",
    )

    # Milestones (procedures 1.3): TTD = detected - started, TTM = mitigated - detected,
    # TTR = resolved - detected.
    started_at = models.DateTimeField(null=True, blank=True, help_text="When impact began.")
    detected_at = models.DateTimeField(db_index=True)
    declared_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    identified_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(
        null=True, blank=True, help_text="Entered Monitoring (the fix is in)."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        indexes = [
            models.Index(fields=["status", "severity", "detected_at"]),
            # The list's default order (read backwards): a deep page skips along this index
            # only (bench/load.py), where the detected_at index alone needed a sort.
            models.Index(fields=["detected_at", "id"], name="incident_list_order"),
            # The list's other orderings with their newest-id tie-break (api/filters.py): a
            # page walks the index and stops, where a sort read every matching row (issue 15).
            models.Index(fields=["severity", "-id"], name="incident_list_severity"),
            models.Index(fields=["severity", "id"], name="incident_list_severity_desc"),
            models.Index(fields=["status", "-detected_at", "-id"], name="incident_list_status"),
            # What the visibility rule reads (selectors._visibility_filter): a responder's
            # COUNT scans this narrow index instead of the table.
            models.Index(fields=["security", "declared_by", "id"], name="incident_visibility"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(started_at__isnull=True) | Q(started_at__lte=models.F("detected_at")),
                name="incident_started_not_after_detected",
            ),
        ]
        permissions = [("transition_incident", "Can change an incident's status")]

    def __str__(self):
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED

    # --- durations (seconds, None until both ends are known) -------------------------------
    @staticmethod
    def _seconds(start: datetime | None, end: datetime | None) -> int | None:
        if start is None or end is None:
            return None
        return int((end - start).total_seconds())

    @property
    def ttd_seconds(self) -> int | None:
        return self._seconds(self.started_at, self.detected_at)

    @property
    def ttm_seconds(self) -> int | None:
        return self._seconds(self.detected_at, self.mitigated_at)

    @property
    def ttr_seconds(self) -> int | None:
        return self._seconds(self.detected_at, self.resolved_at)

    # --- lifecycle -----------------------------------------------------------------------
    @transition(field=status, source=Status.INVESTIGATING, target=Status.IDENTIFIED)
    def identify(self, at: datetime):
        self.identified_at = at

    @transition(field=status, source=Status.IDENTIFIED, target=Status.MONITORING)
    def mitigate(self, at: datetime):
        self.mitigated_at = at

    @transition(field=status, source=Status.MONITORING, target=Status.IDENTIFIED)
    def fix_did_not_hold(self, at: datetime):
        """The fix did not hold but the cause is still the one identified."""
        self.mitigated_at = None

    @transition(field=status, source=Status.MONITORING, target=Status.INVESTIGATING)
    def cause_unknown_again(self, at: datetime):
        """The fix did not hold and the identified cause was not the cause."""
        self.mitigated_at = None
        self.identified_at = None

    @transition(
        field=status,
        source=Status.MONITORING,
        target=Status.RESOLVED,
        conditions=[_resolution_ready],
    )
    def resolve(self, at: datetime):
        self.resolved_at = at

    @transition(field=status, source=Status.RESOLVED, target=Status.INVESTIGATING)
    def reopen(self, at: datetime):
        self.resolved_at = None
        self.mitigated_at = None
        self.identified_at = None
        self.channel_closed_at = None  # an open incident needs its channel again


class RoleAssignment(models.Model):
    """Who holds (or held) an incident role (procedures 3). Relieving keeps the row, so the
    history of who was IC when is never lost."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="roles")
    role = models.CharField(max_length=32, choices=Role.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField()
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    relieved_at = models.DateTimeField(null=True, blank=True)
    relieved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["assigned_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "role"],
                condition=Q(relieved_at__isnull=True) & ~Q(role=Role.SME),
                name="one_active_holder_per_single_role",
            ),
            models.UniqueConstraint(
                fields=["incident", "role", "user"],
                condition=Q(relieved_at__isnull=True),
                name="one_active_assignment_per_user_role",
            ),
        ]
        indexes = [models.Index(fields=["user", "relieved_at"])]

    def __str__(self):
        return f"{self.get_role_display()}: {self.user}"


class ChecklistItem(models.Model):
    """One item of an incident's triage (4.3), IC (Appendix A) or resolution (7.4) checklist."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="checklist")
    checklist = models.CharField(max_length=16, choices=Checklist.choices)
    key = models.SlugField(max_length=64)
    position = models.PositiveSmallIntegerField()
    phase = models.CharField(max_length=32, blank=True)
    text = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["incident", "checklist", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "checklist", "key"], name="unique_checklist_item_key"
            )
        ]

    def __str__(self):
        return f"[{'x' if self.done else ' '}] {self.text}"
