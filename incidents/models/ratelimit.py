"""The rate limits' counters (incidents/ratelimit.py)."""

from django.db import models


class RateLimitCounter(models.Model):
    """One fixed window's count of one rate limit (incidents/ratelimit.py), when the counters
    live in the database (no TENSAFE_CACHE_URL): shared by every web process. The key names its
    scope, a digest of who is counted and its window; rows past `expires_at` are deleted when
    a new window's counter is written."""

    key = models.CharField(max_length=200, primary_key=True)
    count = models.IntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        # The table it was created as, when the model lived in tensafe_ir (moved without
        # copying a row: incidents/migrations/0007, tensafe_ir/migrations/0002).
        db_table = "tensafe_ir_ratelimitcounter"

    def __str__(self):
        return f"{self.key}: {self.count}"
