"""`GET, PATCH /api/v1/policy/`: the procedures' numbers in force, changed by SRE leads.

PATCH takes the same shape as GET, partially: settings fields at the top level,
`severities: {"P1": {field: value}}`, `escalation_contacts: {"cto": {field: value}}`, and
`escalation_rules: [{"id": 3, "after_minutes": 7}, {"severity": "P2", ...new rule...},
{"id": 4, "delete": true}]`, plus an optional `reason`. All of it is validated before any of it
is applied, applied in one transaction, and every changed field is audited.
"""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..models import EscalationContact, EscalationRule, PolicyChange, PolicySettings, SeverityPolicy
from ..permissions import require_sre_lead
from ..selectors import policy_change_recent, policy_document
from ..states import SINGLE_HOLDER_ROLES, Rank, Severity
from .fields import StrictInputMixin, StrictSerializer


class _StrictModelSerializer(StrictInputMixin, serializers.ModelSerializer):
    pass


class SettingsSerializer(_StrictModelSerializer):
    class Meta:
        model = PolicySettings
        exclude = ["id"]


class SeverityPolicySerializer(_StrictModelSerializer):
    # The model stores these as free JSON; give them their shape here so a PATCH cannot store
    # a string where a list belongs, or a rank nobody holds (no one could be IC any more).
    criteria = serializers.ListField(child=serializers.CharField(), required=False)
    response_requirements = serializers.ListField(child=serializers.CharField(), required=False)
    notify_at_declaration = serializers.ListField(child=serializers.CharField(), required=False)
    ic_allowed_ranks = serializers.ListField(
        child=serializers.ChoiceField(choices=Rank.choices), required=False
    )
    comms_lead_allowed_ranks = serializers.ListField(
        child=serializers.ChoiceField(choices=Rank.choices), required=False
    )
    roles_required = serializers.ListField(
        child=serializers.ChoiceField(choices=[(r, r.label) for r in SINGLE_HOLDER_ROLES]),
        required=False,
        help_text="Roles to fill in the first minutes (Appendix A): a reminder when a window "
        "ends without them, then the manager.",
    )

    def validate_roles_required(self, value):
        return list(dict.fromkeys(value))

    class Meta:
        model = SeverityPolicy
        exclude = ["id"]
        read_only_fields = ["severity"]


class EscalationRuleSerializer(_StrictModelSerializer):
    class Meta:
        model = EscalationRule
        fields = ["id", "severity", "trigger", "after_minutes", "target", "enabled"]
        read_only_fields = ["id"]


class EscalationContactSerializer(_StrictModelSerializer):
    class Meta:
        model = EscalationContact
        fields = ["role", "name", "contact_method", "response_minutes", "p1_only"]
        read_only_fields = ["role"]


class PolicyChangeSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = PolicyChange
        fields = ["changed_at", "changed_by", "target", "field", "old_value", "new_value", "reason"]


class PolicyPatchSerializer(StrictSerializer):
    severities = serializers.DictField(child=serializers.DictField(), required=False)
    escalation_rules = serializers.ListField(child=serializers.DictField(), required=False)
    escalation_contacts = serializers.DictField(child=serializers.DictField(), required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    def get_fields(self):
        fields = super().get_fields()
        for name, field in SettingsSerializer().get_fields().items():
            field.required = False
            fields[name] = field
        return fields


def _policy_output() -> dict:
    doc = policy_document()
    return {
        **SettingsSerializer(doc["settings"]).data,
        "severities": {p.severity: SeverityPolicySerializer(p).data for p in doc["severities"]},
        "escalation_rules": EscalationRuleSerializer(doc["escalation_rules"], many=True).data,
        "escalation_contacts": EscalationContactSerializer(
            doc["escalation_contacts"], many=True
        ).data,
        "recent_changes": PolicyChangeSerializer(policy_change_recent(20), many=True).data,
    }


def _validated(serializer_class, instance, data, where: str) -> dict:
    serializer = serializer_class(instance, data=data, partial=instance is not None)
    if not serializer.is_valid():
        raise serializers.ValidationError({where: serializer.errors})
    return serializer.validated_data


def _plan(data: dict) -> list[tuple]:
    """Validate every part of a PATCH and return the changes to apply, in order."""
    doc = policy_document()
    plan = []
    settings_fields = {f.name for f in PolicySettings._meta.fields if f.name != "id"}
    settings_values = {k: v for k, v in data.items() if k in settings_fields}
    if settings_values:
        plan.append(("update", doc["settings"], settings_values))
    by_severity = {p.severity: p for p in doc["severities"]}
    for severity, values in data.get("severities", {}).items():
        if severity not in by_severity:
            raise serializers.ValidationError(
                {"severities": [f"unknown severity {severity!r}; use {', '.join(Severity.values)}"]}
            )
        obj = by_severity[severity]
        plan.append(
            (
                "update",
                obj,
                _validated(SeverityPolicySerializer, obj, values, f"severities.{severity}"),
            )
        )
    by_role = {c.role: c for c in doc["escalation_contacts"]}
    for role, values in data.get("escalation_contacts", {}).items():
        if role not in by_role:
            raise serializers.ValidationError(
                {"escalation_contacts": [f"unknown contact {role!r}; use {', '.join(by_role)}"]}
            )
        obj = by_role[role]
        plan.append(
            (
                "update",
                obj,
                _validated(EscalationContactSerializer, obj, values, f"escalation_contacts.{role}"),
            )
        )
    rules = {r.pk: r for r in doc["escalation_rules"]}
    for index, values in enumerate(data.get("escalation_rules", [])):
        values = dict(values)
        rule_id, delete = values.pop("id", None), values.pop("delete", False)
        where = f"escalation_rules.{index}"
        if rule_id is None:
            if delete:
                raise serializers.ValidationError({where: ["delete needs the id of a rule"]})
            plan.append(
                (
                    "create",
                    EscalationRule,
                    _validated(EscalationRuleSerializer, None, values, where),
                )
            )
            continue
        if not isinstance(rule_id, int) or isinstance(rule_id, bool):
            raise serializers.ValidationError(
                {where: [f"id must be a whole number, not {rule_id!r}"]}
            )
        if not isinstance(delete, bool):
            raise serializers.ValidationError({where: ["delete must be true or false"]})
        if rule_id not in rules:
            raise serializers.ValidationError({where: [f"no escalation rule with id {rule_id}"]})
        if delete:
            plan.append(("delete", rules[rule_id], None))
        else:
            plan.append(
                (
                    "update",
                    rules[rule_id],
                    _validated(EscalationRuleSerializer, rules[rule_id], values, where),
                )
            )
    return plan


class PolicyApi(APIView):
    @extend_schema(summary="The procedures' numbers in force", responses=dict)
    def get(self, request):
        return Response(_policy_output())

    @extend_schema(
        summary="Change the policy (SRE leads; audited)",
        request=PolicyPatchSerializer,
        responses=dict,
    )
    def patch(self, request):
        require_sre_lead(request.user)
        serializer = PolicyPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reason = data.get("reason", "")
        with transaction.atomic():
            for action, target, values in _plan(data):
                if action == "update":
                    services.policy_object_update(
                        actor=request.user, obj=target, values=values, reason=reason
                    )
                elif action == "create":
                    services.policy_object_create(
                        actor=request.user, model=target, values=values, reason=reason
                    )
                else:
                    services.policy_object_delete(actor=request.user, obj=target, reason=reason)
        return Response(_policy_output())
