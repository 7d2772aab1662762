from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from ..models import (
    EscalationContact,
    EscalationRule,
    PolicyChange,
    PolicySettings,
    SeverityPolicy,
    Team,
)
from ..permissions import require_sre_lead
from ..policy import (
    ESCALATION_CONTACT_DEFAULTS,
    ESCALATION_RULE_DEFAULTS,
    SETTINGS_DEFAULTS,
    SEVERITY_DEFAULTS,
)


def policy_seed_defaults() -> None:
    """Write the procedures' defaults once. The settings row goes in last and marks the seed
    done; two processes seeding at once collide on the unique severities and one rolls back."""
    try:
        with transaction.atomic():
            if PolicySettings.objects.filter(pk=1).exists():
                return
            for severity, values in SEVERITY_DEFAULTS.items():
                SeverityPolicy.objects.create(severity=severity, **values)
            for values in ESCALATION_RULE_DEFAULTS:
                EscalationRule.objects.create(**values)
            for values in ESCALATION_CONTACT_DEFAULTS:
                EscalationContact.objects.create(**values)
            PolicySettings.objects.create(pk=1, **SETTINGS_DEFAULTS)
    except IntegrityError:
        if not PolicySettings.objects.filter(pk=1).exists():
            raise


def policy_target(obj) -> str:
    if isinstance(obj, PolicySettings):
        return "settings"
    if isinstance(obj, SeverityPolicy):
        return f"severity:{obj.severity}"
    if isinstance(obj, EscalationContact):
        return f"escalation_contact:{obj.role}"
    if isinstance(obj, Team):
        return f"team:{obj.slug}"
    return f"escalation_rule:{obj.pk}"


def _audit(actor, obj, field: str, old, new, reason: str, at) -> PolicyChange:
    return PolicyChange(
        changed_at=at,
        changed_by=actor,
        target=policy_target(obj),
        field=field,
        old_value=old,
        new_value=new,
        reason=reason,
    )


def policy_object_update(*, actor, obj, values: dict, reason: str = ""):
    """Change fields of one policy row; every changed field is audited (who, when, old, new).
    Values are validated by the model (full_clean) before anything is saved."""
    if actor is not None:
        require_sre_lead(actor)
    with transaction.atomic():
        locked = type(obj).objects.select_for_update().get(pk=obj.pk)
        now = timezone.now()
        changes = []
        for field, new in values.items():
            old = getattr(locked, field)
            if old != new:
                setattr(locked, field, new)
                changes.append(_audit(actor, locked, field, old, new, reason, now))
        if not changes:
            return locked
        locked.full_clean()
        locked.save(update_fields=[c.field for c in changes])
        PolicyChange.objects.bulk_create(changes)
    return locked


def policy_object_create(*, actor, model, values: dict, reason: str = ""):
    """Add an escalation rule (or contact); audited as a whole-row change."""
    if actor is not None:
        require_sre_lead(actor)
    with transaction.atomic():
        obj = model(**values)
        obj.full_clean()
        obj.save()
        _audit(actor, obj, "*", None, model_to_dict(obj), reason, timezone.now()).save()
    return obj


def policy_object_delete(*, actor, obj, reason: str = "") -> None:
    """Remove an escalation rule (or contact); the audit keeps what it was."""
    if actor is not None:
        require_sre_lead(actor)
    with transaction.atomic():
        _audit(actor, obj, "*", model_to_dict(obj), None, reason, timezone.now()).save()
        obj.delete()
