"""Outgoing webhook deliveries become rows of the core outbox (incidents/outbox.py, kind
"outgoing-webhook"): the table and every row are kept; the columns take the outbox row's
definitions, and a status `cancelled` (an SRE lead gave a delivery up) is added."""

import django.utils.timezone
from django.db import migrations, models


def stuck_rows_due_again(apps, schema_editor):
    """Rows the old sender left `sending` without a lease become pending and due now (the
    outbox's sweep would do the same); every other row keeps its status, attempts, outcome and
    times."""
    apps.get_model("integrations", "WebhookDelivery").objects.filter(
        status="sending", lease_until__isnull=True
    ).update(status="pending", next_attempt_at=django.utils.timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_webhook_deliveries_held"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookdelivery",
            name="idempotency_key",
            field=models.CharField(max_length=120, unique=True),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="payload",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                    ("suppressed", "Suppressed (drill)"),
                    ("held", "Held (subscription disabled)"),
                    ("expired", "Expired (held longer than TENSAFE_WEBHOOK_HOLD_DAYS)"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.RunPython(stuck_rows_due_again, migrations.RunPython.noop),
    ]
