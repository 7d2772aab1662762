"""Rows of the project package itself (tensafe_ir/apps.py): the rate-limit counters."""

from django.db import models


class RateLimitCounter(models.Model):
    """One fixed window's count of one rate limit (tensafe_ir/ratelimit.py), when the counters
    live in the database (no TENSAFE_CACHE_URL): shared by every web process. The key names its
    scope, a digest of who is counted and its window; rows past `expires_at` are deleted when
    a new window's counter is written."""

    key = models.CharField(max_length=200, primary_key=True)
    count = models.IntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.key}: {self.count}"
