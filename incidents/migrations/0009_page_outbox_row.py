"""Pages become rows of the delivery outbox (kind "page", incidents/outbox.py). The table,
its columns, its partial index and every row stay as they are: the model now inherits its
outbox columns from `OutboxRow` (same names, types and nullability; `idempotency_key` keeps
its 200 characters and `next_attempt_at` its lack of a default, both overridden), and
`status` gains the choice `cancelled` (an SRE lead giving a waiting page up). Choices live in
Python only: `sqlmigrate incidents 0009` prints no statement on PostgreSQL or SQLite, so the
migration takes no lock and rewrites nothing, and old code keeps working against it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0008_outbox_audit_actions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="page",
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
    ]
