"""Who a Slack user is in TenSafe IR (chat commands, procedures 9.3).

A Slack user acts as a person only through a `ChatIdentity`: their workspace and user id,
linked by that person in the browser with a one-time `ChatLinkToken` (comms/services/
identities.py). Slack's user name is the Slack user's own choice and names nobody.
`ChatRequestSeen` holds the signatures of accepted requests while they are fresh, so a
replayed request is refused by every web process."""

from django.conf import settings
from django.db import models


class ChatIdentity(models.Model):
    """A Slack user (workspace and user id) linked to a TenSafe IR user, so chat commands act
    as that person. Made only by the person themselves (the link flow); removed by them on
    their account page, or by an admin."""

    slack_team_id = models.CharField(max_length=32, help_text="The Slack workspace, e.g. T0001.")
    slack_user_id = models.CharField(max_length=32, help_text="e.g. U024BE7LH")
    slack_name = models.CharField(
        max_length=255, blank=True, help_text="The Slack display name when linked (shown only)."
    )
    slack_team_domain = models.CharField(max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_identities"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slack_team_id", "slack_user_id"]
        verbose_name_plural = "chat identities"
        constraints = [
            models.UniqueConstraint(
                fields=["slack_team_id", "slack_user_id"], name="one_person_per_slack_user"
            )
        ]

    def __str__(self):
        return f"{self.slack_user_id} in {self.slack_team_id} → {self.user}"


class ChatLinkToken(models.Model):
    """A one-time link answered to an unlinked Slack user: whoever signs in with it and
    confirms becomes the person that Slack user acts as. Only the token's SHA-256 is kept;
    it is spent by a conditional UPDATE (used_at from NULL), so it links once."""

    token_hash = models.CharField(max_length=64, unique=True)
    slack_team_id = models.CharField(max_length=32)
    slack_team_domain = models.CharField(max_length=255, blank=True)
    slack_user_id = models.CharField(max_length=32)
    slack_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"link for {self.slack_user_id} in {self.slack_team_id}"


class ChatRequestSeen(models.Model):
    """The signature of an accepted Slack request, kept until its timestamp is stale: a
    second request with the same (timestamp, signature) is a replay. The unique key makes
    the check one INSERT that exactly one request wins, across processes."""

    key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of timestamp:signature")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.key
