"""Who is acting, and the one place where changes of users, groups and passwords are hooked.

Users change through more doors than our services: the admin's user forms and password
pages, group membership from either side of the relation, `manage.py changepassword`, the
shell. So the rules and the audit sit where every door ends up, on the model:

- `pre_save` on User: refuses a rank or password change the actor may not make.
- `post_save` on User: audits creation, field changes, (de)activation and passwords; a
  password change or a deactivation revokes every API token of the user.
- `m2m_changed` on User.groups (either side of the relation): refuses granting `security`
  to an actor who may not; audits each membership added or removed.

`User.save` is atomic, so these rows commit with the change or not at all. Forms and services
check the same rules first (permissions.py) to answer with a form error or a 400/403; the
hooks are the floor under every other door. The actor is the one a service names
(`acting_as`), else the user of the current request (`AuditContextMiddleware`), else the
platform (None). Queryset `.update()` on users bypasses all of this: nothing in the code
changes users that way.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

UNSET = object()

_request: ContextVar = ContextVar("tensafe_audit_request", default=None)
_actor: ContextVar = ContextVar("tensafe_audit_actor", default=UNSET)

# The user fields whose change is audited (`password` has its own actions).
AUDITED_USER_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "rank",
    "team_id",
    "manager_id",
    "is_staff",
    "is_superuser",
    "is_active",
)


class AuditContextMiddleware:
    """Remembers the request being served, so audit rows name its user and address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


@contextmanager
def acting_as(actor):
    """Within the block, changes are made by `actor` (None: the platform itself)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def acting_user():
    actor = _actor.get()
    if actor is not UNSET:
        return actor
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and user.is_authenticated:
        return user
    return None


def acting_address() -> str | None:
    from .ratelimit import client_address

    request = _request.get()
    return (client_address(request) or None) if request is not None else None


# --- the hooks --------------------------------------------------------------------------------
def _user_pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
    from .permissions import require_may_set_password, require_may_set_rank

    instance._audit_before = None
    if raw or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    if instance.pk is not None:
        instance._audit_before = (
            sender.objects.filter(pk=instance.pk).values(*AUDITED_USER_FIELDS, "password").first()
        )
    before = instance._audit_before or {}
    actor = acting_user()
    require_may_set_rank(actor, before.get("rank"), instance.rank)
    if before and before["password"] != instance.password:
        require_may_set_password(actor, instance)


def _user_post_save(sender, instance, created, raw=False, **kwargs):
    from .services.accounts import user_saved_record

    if raw or not hasattr(instance, "_audit_before"):
        return
    before = instance._audit_before
    del instance._audit_before
    if created or before is not None:
        user_saved_record(instance, before)


def _security_group_id():
    from django.contrib.auth.models import Group

    from .states import GroupName

    return Group.objects.filter(name=GroupName.SECURITY).values_list("pk", flat=True).first()


def _groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    from django.contrib.auth.models import Group

    from .models import User
    from .permissions import require_may_grant_security
    from .services.accounts import user_groups_record

    if action == "pre_add":
        group_ids = {instance.pk} if reverse else set(pk_set or ())
        if _security_group_id() in group_ids:
            require_may_grant_security(acting_user())
        return
    if action == "pre_clear":
        # Who was in what, before the rows go: post_clear does not say.
        if reverse:
            instance._audit_cleared = [
                (user, instance.name) for user in User.objects.filter(groups=instance)
            ]
        else:
            instance._audit_cleared = [
                (instance, name) for name in instance.groups.values_list("name", flat=True)
            ]
        return
    if action in ("post_add", "post_remove"):
        if reverse:
            pairs = [(user, instance.name) for user in User.objects.filter(pk__in=pk_set or ())]
        else:
            names = Group.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True)
            pairs = [(instance, name) for name in names]
        user_groups_record(pairs, added=action == "post_add")
    elif action == "post_clear":
        user_groups_record(getattr(instance, "_audit_cleared", []), added=False)
        instance._audit_cleared = []
    if not reverse:
        instance.__dict__.pop("group_names", None)


def connect() -> None:
    """Called once from IncidentsConfig.ready()."""
    from django.db.models.signals import m2m_changed, post_save, pre_save

    from .models import User

    pre_save.connect(_user_pre_save, sender=User, dispatch_uid="audit-user-pre-save")
    post_save.connect(_user_post_save, sender=User, dispatch_uid="audit-user-post-save")
    m2m_changed.connect(
        _groups_changed, sender=User.groups.through, dispatch_uid="audit-user-groups"
    )
