from django.conf import settings
from django.db import models


class Update(models.Model):
    """A communication posted for an incident (procedures 6): a status page update (public),
    an internal status update, or a customer email. Written through comms.services."""

    class Channel(models.TextChoices):
        STATUS_PAGE = "status_page", "Status page"
        INTERNAL = "internal", "Internal"
        CUSTOMER_EMAIL = "customer_email", "Customer email"

    class Template(models.TextChoices):
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="updates"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    template = models.CharField(max_length=16, choices=Template.choices, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    posted_at = models.DateTimeField(db_index=True)
    next_update_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next update on this channel is due (6.3)."
    )

    class Meta:
        ordering = ["posted_at", "id"]
        indexes = [models.Index(fields=["incident", "channel", "posted_at"])]

    def __str__(self):
        return f"{self.get_channel_display()} {self.posted_at:%Y-%m-%d %H:%M}"

    @property
    def public(self) -> bool:
        return self.channel == self.Channel.STATUS_PAGE
