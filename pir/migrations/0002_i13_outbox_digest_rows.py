"""The ActionDigestDelivery rows become rows of the core outbox (incidents/outbox.py)."""

import django.utils.timezone
from django.db import migrations, models


def stuck_rows_due_again(apps, schema_editor):
    """Rows the old sender left `sending` without a lease (its worker died, and nothing would
    ever have picked them up again) become pending and due now; every other row keeps its
    status."""
    rows = apps.get_model("pir", "ActionDigestDelivery").objects
    rows.filter(status="sending", lease_until__isnull=True).update(
        status="pending", next_attempt_at=django.utils.timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("pir", "0001_reviews_action_items"),
    ]

    operations = [
        migrations.AddField(
            model_name="actiondigestdelivery",
            name="lease_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="actiondigestdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="actiondigestdelivery",
            name="payload",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="actiondigestdelivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.RunPython(stuck_rows_due_again, migrations.RunPython.noop),
    ]
