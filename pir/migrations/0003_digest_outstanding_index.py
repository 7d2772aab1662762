"""The review digests get the partial index every other outbox kind has: the outbox sweep
(beat's `sweep-outbox`, every 2 s since pages joined the outbox) reads only the outstanding
rows instead of scanning the whole history (bench/outbox_sweep.py). Adds an index; changes no
row. The table holds a few rows per manager and period, so the build is brief."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pir", "0002_outbox_digest_rows"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="actiondigestdelivery",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "sending"])),
                fields=["next_attempt_at"],
                name="pir_digest_outstanding",
            ),
        ),
    ]
