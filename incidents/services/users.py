from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from ..audit import acting_as
from ..errors import RuleViolation
from ..models import ContactMethod, Team, User
from ..permissions import (
    require_may_grant_security,
    require_may_manage_contact_methods_of,
    require_may_set_password,
    require_may_set_rank,
    require_sre_lead,
)
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
    """Create a person who can hold incident roles. SRE leads (and superusers) only; the
    security group and the security_lead rank take the security lead or a superuser.
    Audited (incidents/audit.py): the user, each group."""
    if actor is not None:
        require_sre_lead(actor)
    if GroupName.SECURITY in groups:
        require_may_grant_security(actor)
    require_may_set_rank(actor, None, rank)
    unknown = sorted(set(groups) - set(GroupName.values))
    if unknown:
        raise RuleViolation(
            f"unknown group(s): {', '.join(unknown)}; use {', '.join(GroupName.values)}.",
            rule="groups",
            field="groups",
        )
    with transaction.atomic(), acting_as(actor):
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
        try:
            validate_password(password, user)
        except ValidationError as weak:
            # Name the field: the API answers 400 with field errors (api-contract).
            raise ValidationError({"password": weak.messages}) from None
        user.set_password(password)
        user.is_staff = GroupName.SRE_LEAD in groups
        user.save()
        user.groups.set(Group.objects.filter(name__in=groups))
    return user


def user_password_set(*, actor, user: User, password: str) -> None:
    """Set `user`'s password (their own, or anyone's but a security member's for an SRE
    lead). Saving it revokes all their API tokens and is audited (incidents/audit.py)."""
    if actor is not None and actor.pk != user.pk:
        require_sre_lead(actor)
    require_may_set_password(actor, user)
    try:
        validate_password(password, user)
    except ValidationError as weak:
        raise ValidationError({"password": weak.messages}) from None
    with transaction.atomic(), acting_as(actor):
        user.set_password(password)
        user.save(update_fields=["password"])


def contact_method_create(*, actor, user: User, kind: str, target: str, secret: str = ""):
    """Add a way to page `user` (their own, or anyone's for an SRE lead). Validated before
    saving: a well-formed address or URL, and a secret for signed webhooks."""
    require_may_manage_contact_methods_of(actor, user.pk)
    method = ContactMethod(user=user, kind=kind, target=target.strip(), secret=secret)
    method.full_clean()
    method.save()
    return method


def contact_method_delete(*, actor, method) -> None:
    require_may_manage_contact_methods_of(actor, method.user_id)
    method.delete()
