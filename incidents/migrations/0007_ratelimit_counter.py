from django.db import migrations, models


class Migration(migrations.Migration):
    """RateLimitCounter comes over from tensafe_ir with its table (no row copied, no table
    created): the state only."""

    dependencies = [
        ("incidents", "0006_accounts_tokens_audit"),
        ("tensafe_ir", "0002_ratelimit_counter_moved"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RateLimitCounter",
                    fields=[
                        (
                            "key",
                            models.CharField(max_length=200, primary_key=True, serialize=False),
                        ),
                        ("count", models.IntegerField(default=0)),
                        ("expires_at", models.DateTimeField(db_index=True)),
                    ],
                    options={"db_table": "tensafe_ir_ratelimitcounter"},
                )
            ],
            database_operations=[],
        )
    ]
