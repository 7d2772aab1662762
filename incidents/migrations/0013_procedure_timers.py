import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The defaults as this migration knows them (incidents/policy.py, "roles_required"): a policy
# seeded before the field existed gets them; a fresh database is seeded from policy.py.
ROLES_REQUIRED = {
    "P1": ["incident_commander", "tech_lead", "comms_lead", "scribe"],
    "P2": ["incident_commander", "tech_lead", "comms_lead", "scribe"],
    "P3": ["incident_commander", "comms_lead"],
    "P4": [],
}


def seed_roles_required(apps, schema_editor):
    SeverityPolicy = apps.get_model("incidents", "SeverityPolicy")
    for severity, roles in ROLES_REQUIRED.items():
        SeverityPolicy.objects.filter(severity=severity).update(roles_required=roles)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0012_security_after_declaration_and_public_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="bridge_requested_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the IC asked for a bridge the severity does not set up by itself.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="incident",
            name="channel_closed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the incident channel was closed (Appendix A: 24 h after resolution).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="severitypolicy",
            name="roles_required",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Roles to fill in the first minutes (App. A): the IC within ic_first_minutes, the others within ic_roles_within_minutes; a reminder, then the manager.",
            ),
        ),
        migrations.AlterField(
            model_name="incident",
            name="bridge_url",
            field=models.URLField(
                blank=True,
                help_text="Empty when the severity's policy sets no bridge (6.1) and none was asked for.",
                max_length=300,
            ),
        ),
        migrations.AlterField(
            model_name="severitypolicy",
            name="ic_allowed_ranks",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Ranks admitted. Empty, and not on call: anyone.",
            ),
        ),
        migrations.AlterField(
            model_name="timelineevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("declared", "Declared"),
                    ("acknowledged", "Acknowledged"),
                    ("status_changed", "Status changed"),
                    ("reopened", "Reopened"),
                    ("severity_changed", "Severity changed"),
                    ("updated", "Details updated"),
                    ("role_assigned", "Role assigned"),
                    ("role_relieved", "Role relieved"),
                    ("checklist_ticked", "Checklist item ticked"),
                    ("checklist_unticked", "Checklist item unticked"),
                    ("note", "Note"),
                    ("notified", "Notified at declaration"),
                    ("escalated", "Escalated"),
                    ("escalation_requested", "Escalation requested"),
                    ("paged", "Paged"),
                    ("page_failed", "Page failed"),
                    ("triage_reminder", "Triage reminder"),
                    ("roles_reminder", "Roles reminder"),
                    ("roles_escalated", "Roles escalated to the manager"),
                    ("escalation_late", "Escalation contact late"),
                    ("escalation_acknowledged", "Escalation contact acknowledged"),
                    ("bridge_opened", "Bridge opened"),
                    ("channel_closed", "Incident channel closed"),
                    ("status_page_posted", "Status page updated"),
                    ("internal_update_posted", "Internal update posted"),
                    ("customer_email_sent", "Customer email sent"),
                    ("comms_reminder", "Communication reminder"),
                    ("comms_missed", "Communication deadline missed"),
                    ("pir_created", "Post-incident review created"),
                    ("pir_published", "Post-incident review published"),
                    ("pir_reminder", "Post-incident review reminder"),
                    ("alert_received", "Alert received"),
                    ("alert_resolved", "Alert resolved"),
                ],
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="EscalationResponse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "rule_key",
                    models.CharField(
                        help_text="The escalation's pages: rule:<id> (5.1) or manual:<id> (5.4).",
                        max_length=64,
                    ),
                ),
                ("target", models.CharField(help_text="The contact's role (5.3).", max_length=32)),
                ("contact_name", models.CharField(max_length=64)),
                (
                    "response_minutes",
                    models.PositiveIntegerField(help_text="As the policy said when paged."),
                ),
                (
                    "trigger",
                    models.CharField(
                        blank=True,
                        help_text="The 5.1 rule's trigger; empty for a request.",
                        max_length=16,
                    ),
                ),
                ("paged_at", models.DateTimeField()),
                ("due_at", models.DateTimeField()),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                ("late_at", models.DateTimeField(blank=True, null=True)),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "incident",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="escalation_responses",
                        to="incidents.incident",
                    ),
                ),
                (
                    "next_response",
                    models.OneToOneField(
                        blank=True,
                        help_text="The next contact paged because this one was late.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="previous",
                        to="incidents.escalationresponse",
                    ),
                ),
            ],
            options={
                "ordering": ["paged_at", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("incident", "rule_key"), name="one_response_per_escalation"
                    )
                ],
            },
        ),
        migrations.RunPython(seed_roles_required, migrations.RunPython.noop),
    ]
