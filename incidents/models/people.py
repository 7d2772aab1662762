import secrets
from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction

from ..states import Rank


def _feed_token() -> str:
    return secrets.token_urlsafe(24)


class User(AbstractUser):
    """A person who can hold incident roles: rank and team decide which roles (procedures 3)."""

    rank = models.CharField(max_length=32, choices=Rank.choices, default=Rank.ENGINEER)
    team = models.ForeignKey(
        "incidents.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="members"
    )

    manager = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports",
        help_text="Paged when an incident this person commands runs past its target (5.2).",
    )
    feed_token = models.CharField(
        max_length=64,
        unique=True,
        default=_feed_token,
        editable=False,
        help_text="Secret in the URL of this person's on-call calendar feed.",
    )

    def __str__(self):
        return self.get_full_name() or self.username

    def save(self, *args, **kwargs):
        # The grant checks and audit rows of the save hooks (incidents/audit.py) commit with
        # the change, or neither does.
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)

    @cached_property
    def group_names(self) -> frozenset[str]:
        """Group names, loaded once per request-sized lifetime of this object."""
        if not self.pk:
            return frozenset()
        return frozenset(self.groups.values_list("name", flat=True))
