"""Service experts (procedures 3.2), and "On-call engineer" (3.1, 3.3) read as being on call
now instead of a rank: a policy still holding the old defaults for P3/P4 IC and P2/P3 Comms Lead
moves to the new ones, each change written to the policy audit; a policy an SRE lead changed
is left as they set it."""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

LADDER = ["engineer", "senior_engineer", "engineering_manager", "vp_engineering", "cto", "ceo"]
SUPPORT = ["support", "support_lead"]
REASON = (
    'migration 0010: "On-call engineer" (procedures 3.1, 3.3) is whoever is on call now, not a rank'
)
# (severity, selection field, ranks field, on-call field, the wording, old ranks, new ranks)
MOVES = [
    ("P3", "ic_selection", "ic_allowed_ranks", "ic_on_call", "On-call engineer", LADDER, []),
    ("P4", "ic_selection", "ic_allowed_ranks", "ic_on_call", "On-call engineer", LADDER, []),
    *[
        (
            severity,
            "comms_lead_selection",
            "comms_lead_allowed_ranks",
            "comms_lead_on_call",
            "On-call engineer or support",
            LADDER + SUPPORT,
            SUPPORT,
        )
        for severity in ("P2", "P3")
    ],
]


def on_call_is_a_fact(apps, schema_editor):
    SeverityPolicy = apps.get_model("incidents", "SeverityPolicy")
    PolicyChange = apps.get_model("incidents", "PolicyChange")
    now = timezone.now()
    for severity, selection, ranks, on_call, wording, old, new in MOVES:
        policy = SeverityPolicy.objects.filter(severity=severity).first()
        if policy is None or getattr(policy, selection) != wording:
            continue
        if sorted(getattr(policy, ranks)) != sorted(old):
            continue
        changes = [(ranks, getattr(policy, ranks), new), (on_call, False, True)]
        for field, before, after in changes:
            setattr(policy, field, after)
            PolicyChange.objects.create(
                changed_at=now,
                changed_by=None,
                target=f"severity:{severity}",
                field=field,
                old_value=before,
                new_value=after,
                reason=REASON,
            )
        policy.save(update_fields=[ranks, on_call])


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0009_page_outbox_row"),
    ]

    operations = [
        migrations.AddField(
            model_name="service",
            name="experts",
            field=models.ManyToManyField(
                blank=True,
                help_text="Subject matter experts for this service: a Technical Lead should be one of them or a senior engineer of the owning team (procedures 3.2).",
                related_name="expert_for",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="severitypolicy",
            name="comms_lead_on_call",
            field=models.BooleanField(
                default=False,
                help_text='Whoever is on call now is admitted too, whatever their rank (3.3 "On-call engineer or support"); an SRE lead may override with a reason.',
            ),
        ),
        migrations.AddField(
            model_name="severitypolicy",
            name="ic_on_call",
            field=models.BooleanField(
                default=False,
                help_text='Whoever is on call now is admitted too, whatever their rank (3.1 "On-call engineer"); an SRE lead may override with a reason.',
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("user.created", "User created"),
                    ("user.changed", "User changed"),
                    ("user.activated", "User activated"),
                    ("user.deactivated", "User deactivated"),
                    ("group.added", "Added to a group"),
                    ("group.removed", "Removed from a group"),
                    ("password.changed", "Password changed by its owner"),
                    ("password.reset", "Password set by someone else"),
                    ("token.created", "API token created"),
                    ("token.revoked", "API token revoked"),
                    ("grant.on", "Grant given"),
                    ("grant.off", "Grant withdrawn"),
                    ("outbox.retried", "Delivery retried now"),
                    ("outbox.given_up", "Delivery given up"),
                    ("role.on_call_override", "Role given over the on-call rule"),
                    ("role.ic_taken", "Incident Commander role taken by an SRE lead"),
                ],
                db_index=True,
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="severitypolicy",
            name="comms_lead_allowed_ranks",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Ranks admitted. Empty, and not on call: anyone.",
            ),
        ),
        migrations.AlterField(
            model_name="severitypolicy",
            name="ic_allowed_ranks",
            field=models.JSONField(
                default=list, help_text="Ranks admitted. Empty, and not on call: anyone."
            ),
        ),
        migrations.RunPython(on_call_is_a_fact, migrations.RunPython.noop),
    ]
