from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.db import models

from ..states import Rank


class User(AbstractUser):
    """A person who can hold incident roles: rank and team decide which roles (procedures 3)."""

    rank = models.CharField(max_length=32, choices=Rank.choices, default=Rank.ENGINEER)
    team = models.ForeignKey(
        "incidents.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="members"
    )

    def __str__(self):
        return self.get_full_name() or self.username

    @cached_property
    def group_names(self) -> frozenset[str]:
        """Group names, loaded once per request-sized lifetime of this object."""
        if not self.pk:
            return frozenset()
        return frozenset(self.groups.values_list("name", flat=True))
