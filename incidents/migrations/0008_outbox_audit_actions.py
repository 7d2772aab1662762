from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0007_ratelimit_counter"),
    ]

    operations = [
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
                ],
                db_index=True,
                max_length=32,
            ),
        ),
    ]
