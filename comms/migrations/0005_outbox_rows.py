"""The delivery rows of status-subscriber emails and update deliveries become rows of the core outbox (incidents/outbox.py)."""

import django.utils.timezone
from django.db import migrations, models


def stuck_rows_due_again(apps, schema_editor):
    """Rows the old senders left `sending` without a lease (their worker died, and nothing
    would ever have picked them up again) become pending and due now; every other row keeps
    its status."""
    for name in (
        "SubscriberDelivery",
        "Delivery",
    ):
        apps.get_model("comms", name).objects.filter(
            status="sending", lease_until__isnull=True
        ).update(status="pending", next_attempt_at=django.utils.timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("comms", "0004_chat_identity_links"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="payload",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="subscriberdelivery",
            name="payload",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="subscriberdelivery",
            name="response_code",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                    ("suppressed", "Suppressed (drill)"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="subscriberdelivery",
            name="idempotency_key",
            field=models.CharField(max_length=120, unique=True),
        ),
        migrations.AlterField(
            model_name="subscriberdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="subscriberdelivery",
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
