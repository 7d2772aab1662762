from django.conf import settings
from django.db import models


class Team(models.Model):
    """An owning team (procedures 9.4): Platform, Security, Support, and more as added."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Service(models.Model):
    """The services catalog (procedures 9.2): what an incident can affect, who owns it, and
    where its runbook is."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    runbook = models.CharField(
        max_length=500, help_text="Runbook location: a repository path or a URL."
    )
    experts = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="expert_for",
        help_text="Subject matter experts for this service: a Technical Lead should be one of "
        "them or a senior engineer of the owning team (procedures 3.2).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
