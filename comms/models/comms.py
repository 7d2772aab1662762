"""Who communications reach (procedures 6): customers and their contacts (customer email, 6.2)
and each team's incident-updates webhook (internal updates, 6.1), edited in the admin; and
the chat commands run on a worker (9.3). Who a Slack user is here: models/chat.py."""

from django.conf import settings
from django.db import models

from incidents.outbound import validate_outbound_url


class Customer(models.Model):
    """A customer, and the services it uses: an incident affecting any of them affects it."""

    name = models.CharField(max_length=200, unique=True)
    services = models.ManyToManyField("incidents.Service", blank=True, related_name="customers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class CustomerContact(models.Model):
    """Someone at a customer who receives the customer email (6.2)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["customer", "email", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "email"], name="one_contact_per_customer_email"
            )
        ]

    def __str__(self):
        return f"{self.email} ({self.customer})"


class TeamWebhook(models.Model):
    """The Slack-compatible incoming webhook where a team reads internal status updates (6.1)
    about incidents in the services it owns."""

    team = models.OneToOneField(
        "incidents.Team", on_delete=models.CASCADE, related_name="comms_webhook"
    )
    url = models.URLField(
        max_length=500,
        help_text="Incoming-webhook URL; it must resolve to a public address unless "
        "allow-listed in TENSAFE_OUTBOUND_ALLOWLIST.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["team__name"]

    def __str__(self):
        return f"{self.team} webhook"

    def clean(self):
        validate_outbound_url(self.url, field="url")


class ChatCommand(models.Model):
    """A chat command whose work runs on a worker (declaring an incident), recorded before it
    is queued: the worker claims it, so a redelivered message never declares twice, and the
    sweeper re-hands one whose hand-off was lost."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    key = models.CharField(
        max_length=128, unique=True, help_text="Slack's trigger_id (or the request signature)."
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    slack_user_id = models.CharField(max_length=32)
    command = models.CharField(max_length=32)
    text = models.TextField()
    args = models.JSONField(default=dict, blank=True, help_text="The parsed command.")
    response_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    result = models.TextField(blank=True, help_text="What was answered in the channel.")
    created_at = models.DateTimeField()
    handed_at = models.DateTimeField(help_text="Last handed to a worker.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.command} {self.text[:40]} ({self.status})"
