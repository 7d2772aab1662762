from django.conf import settings
from django.db import models

from ..states import TimelineKind


class AppendOnlyError(Exception):
    """Timeline events record what happened; they are never edited or deleted."""


class TimelineQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("timeline events cannot be updated")

    def delete(self):
        raise AppendOnlyError("timeline events cannot be deleted")


class TimelineEvent(models.Model):
    """One line of an incident's timeline, written in the same transaction as the change it
    records. Append-only: the model refuses updates and deletes, and on PostgreSQL a trigger
    refuses them too (migration 0002)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="timeline"
    )
    kind = models.CharField(max_length=32, choices=TimelineKind.choices)
    occurred_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the platform itself acted (timers, integrations).",
    )
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    objects = TimelineQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["incident", "occurred_at", "id"])]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.text}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("timeline events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("timeline events cannot be deleted")
