"""Input serializers are strict (unknown fields are errors); output serializers say what goes
out. Writes happen in pir.services, never here."""

from rest_framework import serializers

from incidents.api.fields import AwareDateTimeField, StrictSerializer
from incidents.api.schema import ErrorOutputSerializer
from incidents.models import User

from .models import (
    ACTION_REQUIRED_FIELDS,
    ActionItem,
    ActionPriority,
    ActionStatus,
    PirStatus,
    PirTimelineEntry,
    PostIncidentReview,
)
from .render.markdown import render_markdown, render_markdown_inline

MARKDOWN_FIELDS = ("summary", "what_happened", "lessons_learned")
LIST_FIELDS = ("five_whys", "contributing_factors", "went_well", "could_improve")


# --- output -------------------------------------------------------------------------------------
class PirListOutputSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    incident_reference = serializers.CharField(source="incident.reference", read_only=True)
    severity = serializers.CharField(source="incident.severity", read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PostIncidentReview
        fields = [
            "id",
            "reference",
            "incident",
            "incident_reference",
            "severity",
            "status",
            "required",
            "due_at",
            "author",
            "review_date",
            "created_at",
            "published_at",
        ]


class TimelineEntryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PirTimelineEntry
        fields = ["id", "source_event", "occurred_at", "kind", "text", "edited"]


class ActionItemOutputSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    pir_reference = serializers.CharField(source="pir.reference", read_only=True)
    incident_reference = serializers.CharField(source="incident.reference", read_only=True)
    missing_fields = serializers.ListField(
        child=serializers.ChoiceField(choices=ACTION_REQUIRED_FIELDS),
        read_only=True,
        help_text="Required fields it lacks (items from before the rule): it needs them.",
    )

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "pir",
            "pir_reference",
            "incident",
            "incident_reference",
            "action",
            "description",
            "owner",
            "priority",
            "due_date",
            "status",
            "label",
            "created_at",
            "completed_at",
            "closed_at",
            "version",
            "missing_fields",
        ]


class AppendixLinkSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    url = serializers.URLField(max_length=500)


class PirDetailOutputSerializer(PirListOutputSerializer):
    html = serializers.SerializerMethodField()
    entries = TimelineEntryOutputSerializer(many=True, read_only=True)
    action_items = ActionItemOutputSerializer(many=True, read_only=True)
    missing_sections = serializers.ListField(child=serializers.CharField(), read_only=True)
    allowed_transitions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(PirListOutputSerializer.Meta):
        fields = [
            *PirListOutputSerializer.Meta.fields,
            "summary",
            "customers_affected",
            "requests_failed",
            "revenue_impact",
            "sla_impact_minutes",
            "what_happened",
            "five_whys",
            "contributing_factors",
            "went_well",
            "could_improve",
            "lessons_learned",
            "appendix_links",
            "submitted_at",
            "html",
            "entries",
            "action_items",
            "missing_sections",
            "allowed_transitions",
        ]

    def get_html(self, pir) -> dict:
        """The Markdown fields rendered and sanitised, as the page and the PDF show them."""
        out = {name: str(render_markdown(getattr(pir, name))) for name in MARKDOWN_FIELDS}
        for name in LIST_FIELDS:
            out[name] = [str(render_markdown_inline(v)) for v in getattr(pir, name)]
        return out


# --- input --------------------------------------------------------------------------------------
class PirCreateInputSerializer(StrictSerializer):
    incident = serializers.IntegerField(min_value=1)


class PirUpdateInputSerializer(StrictSerializer):
    author = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), allow_null=True
    )
    review_date = serializers.DateField(allow_null=True)
    summary = serializers.CharField(allow_blank=True, max_length=20000)
    customers_affected = serializers.CharField(allow_blank=True, max_length=200)
    requests_failed = serializers.IntegerField(min_value=0, allow_null=True)
    revenue_impact = serializers.CharField(allow_blank=True, max_length=200)
    sla_impact_minutes = serializers.IntegerField(min_value=0, allow_null=True)
    what_happened = serializers.CharField(allow_blank=True, max_length=50000)
    five_whys = serializers.ListField(
        child=serializers.CharField(max_length=2000), max_length=20, allow_empty=True
    )
    contributing_factors = serializers.ListField(
        child=serializers.CharField(max_length=2000), max_length=50, allow_empty=True
    )
    went_well = serializers.ListField(
        child=serializers.CharField(max_length=2000), max_length=50, allow_empty=True
    )
    could_improve = serializers.ListField(
        child=serializers.CharField(max_length=2000), max_length=50, allow_empty=True
    )
    lessons_learned = serializers.CharField(allow_blank=True, max_length=20000)
    appendix_links = AppendixLinkSerializer(many=True)

    at_least_one_field = True

    def get_fields(self):
        # Every section is optional: a PATCH changes the ones it names.
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class PirTransitionInputSerializer(StrictSerializer):
    to = serializers.ChoiceField(choices=PirStatus.choices)


class TimelineEntryInputSerializer(StrictSerializer):
    occurred_at = AwareDateTimeField()
    text = serializers.CharField(max_length=2000)


class TimelineEntryUpdateInputSerializer(StrictSerializer):
    occurred_at = AwareDateTimeField(required=False)
    text = serializers.CharField(max_length=2000, required=False)

    at_least_one_field = True


OWNER_REQUIRED = "Every action item needs an owner (procedures 8.2, 8.3: assign owners)."
DUE_DATE_REQUIRED = "Every action item needs a due date (procedures 8.2)."


class ActionItemInputSerializer(StrictSerializer):
    action = serializers.CharField(max_length=300)
    description = serializers.CharField(allow_blank=True, required=False, max_length=10000)
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        error_messages={"required": OWNER_REQUIRED, "null": OWNER_REQUIRED},
    )
    priority = serializers.ChoiceField(choices=ActionPriority.choices)
    due_date = serializers.DateField(
        error_messages={"required": DUE_DATE_REQUIRED, "null": DUE_DATE_REQUIRED}
    )
    status = serializers.ChoiceField(choices=ActionStatus.choices, required=False)


class ActionItemUpdateInputSerializer(ActionItemInputSerializer):
    action = serializers.CharField(max_length=300, required=False)
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        error_messages={"null": OWNER_REQUIRED},
    )
    priority = serializers.ChoiceField(choices=ActionPriority.choices, required=False)
    due_date = serializers.DateField(required=False, error_messages={"null": DUE_DATE_REQUIRED})
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The version you read: if the item changed since, 409 and nothing changes.",
    )

    at_least_one_field = True


class StaleWriteOutputSerializer(ErrorOutputSerializer):
    version = serializers.IntegerField(help_text="The action item's current version.")


class ActionMetricsSerializer(serializers.Serializer):
    overall = serializers.DictField()
    by_severity = serializers.ListField(child=serializers.DictField())
    by_team = serializers.ListField(child=serializers.DictField())
