from django.db import migrations, models


class Migration(migrations.Migration):
    """Action items get a version (a stale edit is refused); review digests are per action
    priority (8.4), so their `severity` column is renamed `priority`. Owner and due date stay
    nullable: rows from before the rule load and are shown as needing them."""

    dependencies = [
        ("pir", "0003_digest_outstanding_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="actionitem",
            name="version",
            field=models.PositiveIntegerField(
                default=1,
                editable=False,
                help_text="Raised by every change; a stale edit is refused.",
            ),
        ),
        migrations.RenameField(
            model_name="actiondigestdelivery",
            old_name="severity",
            new_name="priority",
        ),
        migrations.AlterField(
            model_name="actiondigestdelivery",
            name="priority",
            field=models.CharField(
                help_text="The action items' priority this digest reviews (8.4).", max_length=2
            ),
        ),
        migrations.AlterModelOptions(
            name="actiondigestdelivery",
            options={
                "ordering": ["-period_start", "priority", "id"],
                "verbose_name_plural": "action digest deliveries",
            },
        ),
    ]
