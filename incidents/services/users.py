from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from ..errors import RuleViolation
from ..models import Team, User
from ..permissions import require_sre_lead
from ..states import GroupName, Rank


def user_create(
    *,
    actor,
    username: str,
    password: str,
    email: str = "",
    rank: str = Rank.ENGINEER,
    team: Team | None = None,
    groups: list[str] | tuple = (),
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a person who can hold incident roles. SRE leads (and superusers) only."""
    if actor is not None:
        require_sre_lead(actor)
    unknown = sorted(set(groups) - set(GroupName.values))
    if unknown:
        raise RuleViolation(
            f"unknown group(s): {', '.join(unknown)}; use {', '.join(GroupName.values)}.",
            rule="groups",
            field="groups",
        )
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise RuleViolation(
                f"username {username!r} is taken.", rule="unique username", field="username"
            )
        user = User(
            username=username,
            email=email,
            rank=rank,
            team=team,
            first_name=first_name,
            last_name=last_name,
        )
        validate_password(password, user)
        user.set_password(password)
        user.is_staff = GroupName.SRE_LEAD in groups
        user.save()
        user.groups.set(Group.objects.filter(name__in=groups))
    return user
