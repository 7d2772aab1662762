"""The delivery rows of the review digests become rows of the core outbox (incidents/outbox.py)."""

import django.utils.timezone
from django.db import migrations, models


def stuck_rows_due_again(apps, schema_editor):
    """Rows the old senders left `sending` without a lease (their worker died, and nothing
    would ever have picked them up again) become pending and due now; every other row keeps
    its status."""
    for name in ("ActionDigestDelivery",):
        apps.get_model("pir", name).objects.filter(
            status="sending", lease_until__isnull=True
        ).update(status="pending", next_attempt_at=django.utils.timezone.now())


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
        migrations.AddField(
            model_name="actiondigestdelivery",
            name="response_code",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
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
