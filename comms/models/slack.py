"""The Slack workspace side of an incident (procedures 6.1): its channel, and the Web API calls
made about it, each an outbox row written with the timeline event that asks for it (comms/
slack.py)."""

from django.db import models

from incidents.outbox import OutboxRow


class SlackChannel(models.Model):
    """The incident's Slack channel as Slack knows it: the id conversations.create answered,
    the message of links pinned in it, and when it was archived."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    name = models.CharField(max_length=80)
    private = models.BooleanField(default=False, help_text="A security incident's channel.")
    channel_id = models.CharField(max_length=32, blank=True)
    links_ts = models.CharField(
        max_length=32, blank=True, help_text="The pinned message of links (its Slack ts)."
    )
    created_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"#{self.name} ({self.channel_id or 'not created yet'})"


class SlackCall(OutboxRow):
    """One Slack Web API call (`method` with `args`) about an incident, a row of the core's
    outbox (kind "slack-call"). Calls of an incident go in the order they were written (its
    ordering key), so the channel exists before its topic is set. An argument "@channel" or
    "@links_ts" stands for the SlackChannel's value, known only once Slack has answered."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=64)
    args = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["incident", "id"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="slack_call_outstanding",
            )
        ]

    def __str__(self):
        return f"{self.method} ({self.status})"

    @property
    def target(self) -> str:
        """What a failure note masks (incidents.services.timeline): a call quotes no secret."""
        return ""
