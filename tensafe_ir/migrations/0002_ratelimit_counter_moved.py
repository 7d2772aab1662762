from django.db import migrations


class Migration(migrations.Migration):
    """RateLimitCounter moved to incidents (incidents/ratelimit.py, so the project package
    and the apps no longer import each other): this app forgets it, the table stays as it is
    and incidents/migrations/0007 takes it over."""

    dependencies = [("tensafe_ir", "0001_ratelimit_counter")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="RateLimitCounter")],
            database_operations=[],
        )
    ]
