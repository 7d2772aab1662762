"""The procedures' numbers in force. Defaults come from `incidents.policy`; SRE leads change
them (admin, `PATCH /api/v1/policy/`) through `incidents.services.policy_update`, which writes
a `PolicyChange` row for every field it changes."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from ..states import SINGLE_HOLDER_ROLES, Severity

ESCALATION_TARGETS = [
    ("backup_on_call", "Backup on-call"),
    ("engineering_manager", "Engineering Manager"),
    ("vp_engineering", "VP Engineering"),
    ("cto", "CTO"),
    ("security_lead", "Security Lead"),
    ("ceo", "CEO"),
    ("ic_manager", "The IC's manager"),
]


class PolicySettings(models.Model):
    """The numbers that are not per severity. One row (pk=1); its existence also marks that the
    defaults have been seeded."""

    stability_window_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Minutes in Monitoring before an incident may be resolved (7.4).",
    )
    triage_window_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Initial triage window (4.2)."
    )
    ic_first_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="IC checklist 'first minutes' phase (App. A)."
    )
    ic_roles_within_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Roles assigned and status page updated within (App. A).",
    )
    channel_close_after_hours = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Close the incident channel this long after resolution (App. A).",
    )
    bridge_base_url = models.URLField(
        help_text="Bridge call link (6.1); each incident gets a room."
    )
    status_page_url = models.URLField(help_text="Public status page named in customer email (6.2).")
    ack_link_valid_hours = models.PositiveIntegerField(
        default=24,
        validators=[MinValueValidator(1)],
        help_text="How long the one-click acknowledge link in a page stays valid.",
    )

    class Meta:
        verbose_name = verbose_name_plural = "policy settings"

    def __str__(self):
        return "Policy settings"


class SeverityPolicy(models.Model):
    """Everything the procedures set per severity (2.1, 3, 6.3, 8.1, 8.4)."""

    BRIDGE = [("required", "Always"), ("recommended", "Recommended"), ("none", "None")]
    STATUS_PAGE_MODES = [
        ("cadence", "First update, then every N minutes"),
        ("initial_and_resolved", "Initial + resolved"),
        ("none", "None"),
    ]
    CUSTOMER_EMAIL_MODES = [
        ("cadence", "Every N minutes"),
        ("end_of_incident", "End of incident"),
        ("none", "None"),
    ]
    PIR = [("required", "Required"), ("optional", "Optional"), ("none", "No")]

    severity = models.CharField(max_length=2, choices=Severity.choices, unique=True)
    name = models.CharField(max_length=32)
    definition = models.CharField(max_length=200)
    criteria = models.JSONField(default=list)
    response_requirements = models.JSONField(default=list)
    notify_at_declaration = models.JSONField(
        default=list, help_text="Audiences told at declaration (2.1)."
    )
    target_resolution_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    ic_selection = models.CharField(max_length=100, help_text="Who may be IC (3.1), as written.")
    ic_allowed_ranks = models.JSONField(
        # blank: P3/P4 admit whoever is on call, with no rank (else no change of theirs saves)
        default=list,
        blank=True,
        help_text="Ranks admitted. Empty, and not on call: anyone.",
    )
    ic_on_call = models.BooleanField(
        default=False,
        help_text="Whoever is on call now is admitted too, whatever their rank (3.1 "
        '"On-call engineer"); an SRE lead may override with a reason.',
    )
    comms_lead_selection = models.CharField(max_length=100, blank=True)
    comms_lead_allowed_ranks = models.JSONField(
        default=list, blank=True, help_text="Ranks admitted. Empty, and not on call: anyone."
    )
    comms_lead_on_call = models.BooleanField(
        default=False,
        help_text="Whoever is on call now is admitted too, whatever their rank (3.3 "
        '"On-call engineer or support"); an SRE lead may override with a reason.',
    )
    bridge = models.CharField(max_length=16, choices=BRIDGE)
    roles_required = models.JSONField(
        default=list,
        blank=True,
        help_text="Roles to fill in the first minutes (App. A): the IC within ic_first_minutes, "
        "the others within ic_roles_within_minutes; a reminder, then the manager.",
    )
    status_page_first_minutes = models.PositiveIntegerField(null=True, blank=True)
    customer_first_minutes = models.PositiveIntegerField(null=True, blank=True)
    status_page_mode = models.CharField(max_length=24, choices=STATUS_PAGE_MODES)
    status_page_every_minutes = models.PositiveIntegerField(null=True, blank=True)
    internal_every_minutes = models.PositiveIntegerField(null=True, blank=True)
    customer_email_mode = models.CharField(max_length=24, choices=CUSTOMER_EMAIL_MODES)
    customer_email_every_minutes = models.PositiveIntegerField(null=True, blank=True)
    pir_required = models.CharField(max_length=16, choices=PIR)
    pir_due_hours = models.PositiveIntegerField(null=True, blank=True)
    pir_attendees = models.CharField(max_length=100, blank=True)
    action_review_every_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "severity policies"

    def __str__(self):
        return f"{self.severity} - {self.name}"

    def clean(self):
        allowed = [str(r) for r in SINGLE_HOLDER_ROLES]
        roles = self.roles_required
        if not isinstance(roles, list) or any(r not in allowed for r in roles):
            raise ValidationError(
                {"roles_required": f"Give a list of roles among: {', '.join(allowed)}."}
            )


class EscalationRule(models.Model):
    """One row of the automatic escalation table (5.1), plus 5.2's over-target rule."""

    TRIGGERS = [
        ("unacknowledged", "Not acknowledged after"),
        ("open", "Open longer than"),
        ("security", "Security incident (at once)"),
        ("over_target", "Open past the severity's target resolution time"),
    ]

    severity = models.CharField(
        max_length=2, choices=Severity.choices, blank=True, help_text="Empty: any severity."
    )
    trigger = models.CharField(max_length=16, choices=TRIGGERS)
    after_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Counted from detection. Empty for over_target."
    )
    target = models.CharField(max_length=32, choices=ESCALATION_TARGETS)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["severity", "after_minutes", "id"]

    def __str__(self):
        sev = self.severity or "Any"
        when = f" {self.after_minutes} min" if self.after_minutes is not None else ""
        return f"{sev}: {self.get_trigger_display()}{when} -> {self.get_target_display()}"


class EscalationContact(models.Model):
    """Escalation contacts (5.3): how each is reached and how fast they are expected to answer."""

    role = models.CharField(max_length=32, choices=ESCALATION_TARGETS, unique=True)
    name = models.CharField(max_length=64)
    contact_method = models.CharField(max_length=64)
    response_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    p1_only = models.BooleanField(default=False)

    class Meta:
        ordering = ["response_minutes", "id"]

    def __str__(self):
        return self.name


class PolicyChange(models.Model):
    """Audit of policy changes: who, when, what, old and new value."""

    changed_at = models.DateTimeField(db_index=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    target = models.CharField(
        max_length=64, help_text="e.g. settings, severity:P1, escalation_rule:3"
    )
    field = models.CharField(max_length=64)
    old_value = models.JSONField(null=True)
    new_value = models.JSONField(null=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.target}.{self.field}: {self.old_value!r} -> {self.new_value!r}"
