"""Chat identities name their Slack workspace, and are made only by the linked person.

Links made before this migration name no workspace and were set by an admin, not confirmed by
the person they act as, so they are removed (not guessed): each affected Slack user is
answered a one-time link by their next command and relinks in the browser in two clicks
(docs/operations.md, "Linking Slack users")."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def remove_links_without_a_workspace(apps, schema_editor):
    removed, _ = apps.get_model("comms", "ChatIdentity").objects.all().delete()
    if removed:
        print(f"\n  Removed {removed} chat identities without a workspace: relink from Slack.")


class Migration(migrations.Migration):
    dependencies = [
        ("comms", "0003_communications"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(remove_links_without_a_workspace, migrations.RunPython.noop),
        migrations.CreateModel(
            name="ChatLinkToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("slack_team_id", models.CharField(max_length=32)),
                ("slack_team_domain", models.CharField(blank=True, max_length=255)),
                ("slack_user_id", models.CharField(max_length=32)),
                ("slack_name", models.CharField(blank=True, max_length=255)),
                ("created_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField(db_index=True)),
                ("used_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="ChatRequestSeen",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        help_text="SHA-256 of timestamp:signature", max_length=64, unique=True
                    ),
                ),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.AlterModelOptions(
            name="chatidentity",
            options={
                "ordering": ["slack_team_id", "slack_user_id"],
                "verbose_name_plural": "chat identities",
            },
        ),
        migrations.AddField(
            model_name="chatidentity",
            name="slack_name",
            field=models.CharField(
                blank=True,
                help_text="The Slack display name when linked (shown only).",
                max_length=255,
            ),
        ),
        migrations.AddField(
            model_name="chatidentity",
            name="slack_team_domain",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="chatidentity",
            name="slack_team_id",
            field=models.CharField(
                default="", help_text="The Slack workspace, e.g. T0001.", max_length=32
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="chatidentity",
            name="slack_user_id",
            field=models.CharField(help_text="e.g. U024BE7LH", max_length=32),
        ),
        migrations.AddConstraint(
            model_name="chatidentity",
            constraint=models.UniqueConstraint(
                fields=("slack_team_id", "slack_user_id"), name="one_person_per_slack_user"
            ),
        ),
        migrations.AddField(
            model_name="chatlinktoken",
            name="used_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
