"""Input serializers validate what comes in (strict: unknown fields are errors); output
serializers say what goes out. Writes happen in services, never in a serializer."""

from rest_framework import serializers
from rest_framework.fields import empty

from ..models import ChecklistItem, Incident, RoleAssignment, Service, TimelineEvent, User
from ..services.security import PUBLIC_TEXT_MAX, PUBLIC_TITLE_MAX
from ..states import DetectionSource, GroupName, Rank, Role, Severity, Status
from ..triage import ANSWER_KEYS, CRITERIA, QUESTIONS
from .fields import AwareDateTimeField, StrictSerializer


# --- output -------------------------------------------------------------------------------------
class RoleOutputSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.get_full_name")
    rank = serializers.CharField(source="user.rank")

    class Meta:
        model = RoleAssignment
        fields = ["role", "username", "name", "rank", "assigned_at"]


class IncidentOutputSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    services = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()
    declared_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    acknowledged_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    ttd_seconds = serializers.IntegerField(read_only=True, allow_null=True)
    ttm_seconds = serializers.IntegerField(read_only=True, allow_null=True)
    ttr_seconds = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "description",
            "symptoms",
            "impact",
            "workaround",
            "severity",
            "status",
            "services",
            "detection_source",
            "security",
            "drill",
            "channel_name",
            "bridge_url",
            "started_at",
            "detected_at",
            "declared_at",
            "acknowledged_at",
            "identified_at",
            "mitigated_at",
            "resolved_at",
            "ttd_seconds",
            "ttm_seconds",
            "ttr_seconds",
            "declared_by",
            "acknowledged_by",
            "roles",
        ]

    def get_services(self, incident) -> list[str]:
        return [s.slug for s in incident.services.all()]

    def get_roles(self, incident) -> list[dict]:
        from ..selectors import incident_active_roles

        return RoleOutputSerializer(incident_active_roles(incident), many=True).data


class PendingDeadlineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    key = serializers.CharField()
    label = serializers.CharField(help_text="What the deadline is for, in words.")
    due_at = serializers.DateTimeField()


class NextContactOutputSerializer(serializers.Serializer):
    role = serializers.CharField()
    name = serializers.CharField()
    response_minutes = serializers.IntegerField()


class EscalationResponseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True,
        help_text="Null while a 5.1 escalation's contact is awaited and nothing is recorded.",
    )
    key = serializers.CharField(help_text="The escalation's rule key: rule:<id> or manual:<id>.")
    contact = serializers.CharField(help_text="The escalation contact's role (5.3).")
    contact_name = serializers.CharField()
    people = serializers.ListField(child=serializers.CharField(), help_text="Who was paged.")
    paged_at = serializers.DateTimeField()
    response_minutes = serializers.IntegerField()
    due_at = serializers.DateTimeField(help_text="Paged at + the contact's response time.")
    status = serializers.ChoiceField(choices=["awaiting", "acknowledged", "late"])
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True)
    late_at = serializers.DateTimeField(allow_null=True)
    next_contact = NextContactOutputSerializer(
        allow_null=True,
        help_text="For a late, unanswered contact: the next one of 5.3 to page "
        "(POST …/escalation-responses/{id}/page-next/); null once paged or when none is left.",
    )
    next_response = serializers.IntegerField(
        allow_null=True, help_text="The response of the contact paged next."
    )


class BridgeOutputSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Empty when the incident has no bridge.")
    setting = serializers.ChoiceField(
        choices=["required", "recommended", "none"], help_text="The severity's policy (6.1)."
    )
    label = serializers.CharField()
    requested_at = serializers.DateTimeField(allow_null=True)
    can_request = serializers.BooleanField(
        help_text="Whether you may ask for a bridge now (POST …/bridge/)."
    )


class IncidentDetailOutputSerializer(IncidentOutputSerializer):
    """The list's fields plus what takes per-incident queries: what may happen next."""

    allowed_transitions = serializers.ListField(child=serializers.CharField(), read_only=True)
    resolution_blockers = serializers.ListField(child=serializers.CharField(), read_only=True)
    role_warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    target_resolution_at = serializers.DateTimeField(read_only=True)
    public_title = serializers.CharField(
        read_only=True,
        help_text="A security incident's title for the public (status page, customer email); "
        "empty until the security group sets it.",
    )
    public_text = serializers.CharField(read_only=True)
    public_approved_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the security group approved the public title and text; null: not "
        "approved, so a security incident's status page and customer email wait.",
    )
    public_approved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    channel_closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    bridge = BridgeOutputSerializer(read_only=True)
    deadlines = PendingDeadlineOutputSerializer(
        source="deadlines_pending", many=True, read_only=True
    )
    escalation_responses = EscalationResponseOutputSerializer(
        source="escalation_responses_shown", many=True, read_only=True
    )

    class Meta(IncidentOutputSerializer.Meta):
        fields = [
            *IncidentOutputSerializer.Meta.fields,
            "allowed_transitions",
            "resolution_blockers",
            "role_warnings",
            "target_resolution_at",
            "public_title",
            "public_text",
            "public_approved_at",
            "public_approved_by",
            "channel_closed_at",
            "bridge",
            "deadlines",
            "escalation_responses",
        ]


class TimelineEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TimelineEvent
        fields = ["id", "kind", "occurred_at", "recorded_at", "actor", "text", "data"]


class ChecklistItemOutputSerializer(serializers.ModelSerializer):
    done_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ChecklistItem
        fields = ["id", "checklist", "key", "phase", "text", "done", "done_at", "done_by"]


class ServiceOutputSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)
    experts = serializers.SlugRelatedField(
        slug_field="username",
        many=True,
        read_only=True,
        help_text="Subject matter experts (procedures 3.2), by username.",
    )

    class Meta:
        model = Service
        fields = ["slug", "name", "team", "team_name", "runbook", "experts"]


class UserOutputSerializer(serializers.ModelSerializer):
    # Django's username rule is a Unicode regex; as a schema pattern (ECMA 262, where \w is
    # ASCII) it would call usernames like "Zoë" invalid.
    username = serializers.CharField(read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    groups = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "rank",
            "team",
            "groups",
            "is_active",
        ]

    def get_groups(self, user) -> list[str]:
        return sorted(g.name for g in user.groups.all())


# --- input --------------------------------------------------------------------------------------
class ServiceSlugsField(serializers.ListField):
    child = serializers.SlugField()

    def to_internal_value(self, data):
        slugs = super().to_internal_value(data)
        found = {s.slug: s for s in Service.objects.filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            raise serializers.ValidationError(f"unknown service(s): {', '.join(unknown)}")
        return [found[slug] for slug in dict.fromkeys(slugs)]


class IncidentDeclareInputSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    symptoms = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    impact = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    workaround = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=5000
    )
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20000
    )
    severity = serializers.ChoiceField(choices=Severity.choices)
    services = ServiceSlugsField(required=False, default=list)
    detection_source = serializers.ChoiceField(choices=DetectionSource.choices)
    security = serializers.BooleanField(required=False, default=False)
    drill = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Game-day drill: timers run, pages are recorded, nothing is sent.",
    )
    started_at = AwareDateTimeField(required=False, allow_null=True, default=None)
    detected_at = AwareDateTimeField(required=False, allow_null=True, default=None)


class IncidentUpdateInputSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False)
    symptoms = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    impact = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    workaround = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    services = ServiceSlugsField(required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class TransitionInputSerializer(StrictSerializer):
    to = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class UsernameField(serializers.CharField):
    # Look the user up after the CharField validators (max_length) have run on the string:
    # they cannot measure a User.
    def run_validation(self, data=empty):
        username = super().run_validation(data)
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise serializers.ValidationError(f"no user named {username!r}") from None


class RoleInputSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)
    username = UsernameField(max_length=150)
    remove = serializers.BooleanField(
        required=False, default=False, help_text="Relieve instead of assign."
    )
    override = serializers.BooleanField(
        required=False,
        default=False,
        help_text="SRE leads: assign although the person is not on call where the procedures "
        'say "On-call engineer" (3.1, 3.3); needs override_reason, and is audited.',
    )
    override_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500
    )


class NoteInputSerializer(StrictSerializer):
    text = serializers.CharField(max_length=10000)
    occurred_at = AwareDateTimeField(required=False, allow_null=True, default=None)


class ChecklistItemInputSerializer(StrictSerializer):
    done = serializers.BooleanField()


class TriageInputSerializer(StrictSerializer):
    """The flowchart's questions (2.2) and the severity criteria (2.1), each a boolean; a
    question the flowchart reaches must be answered, criteria may be left out (the answer's
    `criteria.unanswered` lists those that could still raise the proposal)."""

    def get_fields(self):
        fields = super().get_fields()
        for key in ANSWER_KEYS:
            fields[key] = serializers.BooleanField(
                required=False, allow_null=True, default=None, help_text=_triage_help(key)
            )
        return fields


def _triage_help(key: str) -> str:
    parts = []
    if key in QUESTIONS:
        parts.append(f"Flowchart (2.2): {QUESTIONS[key]}")
    if key in CRITERIA:
        parts.append(f"{CRITERIA[key].severity} criterion (2.1): {CRITERIA[key].text}")
    return " / ".join(parts)


class TriageStepSerializer(serializers.Serializer):
    question = serializers.CharField()
    text = serializers.CharField()
    answer = serializers.BooleanField()


class TriageFlowchartSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    path = TriageStepSerializer(many=True)


class TriageCriterionSerializer(serializers.Serializer):
    criterion = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    text = serializers.CharField()


class TriageCriterionAnswerSerializer(TriageCriterionSerializer):
    answer = serializers.BooleanField()


class TriageCriteriaSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(
        choices=Severity.choices, allow_null=True, help_text="The most severe criterion matched."
    )
    matched = TriageCriterionSerializer(many=True)
    answers = TriageCriterionAnswerSerializer(many=True)
    unanswered = TriageCriterionSerializer(
        many=True, help_text="Criteria more severe than the proposal that were not answered."
    )


class TriageOutputSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(
        choices=Severity.choices, help_text="The proposal: the more severe of the two walks."
    )
    path = TriageStepSerializer(many=True, help_text="The flowchart's path (as `flowchart.path`).")
    flowchart = TriageFlowchartSerializer()
    criteria = TriageCriteriaSerializer()
    decided_by = serializers.ChoiceField(choices=["flowchart", "criteria", "both"])


def triage_output(result) -> dict:
    return {
        "severity": result.severity,
        "path": result.path,
        "flowchart": {"severity": result.flowchart_severity, "path": result.path},
        "criteria": {
            "severity": result.criteria_severity,
            "matched": result.criteria_matched,
            "answers": result.criteria_answers,
            "unanswered": result.criteria_open,
        },
        "decided_by": result.decided_by,
    }


class UserCreateInputSerializer(StrictSerializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )
    # No default: '' is not an email, and a schema whose `format: email` field defaults to it
    # fails the OpenAPI validator (the service's own default is '').
    email = serializers.EmailField(required=False, allow_blank=True)
    first_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=150)
    rank = serializers.ChoiceField(choices=Rank.choices)
    team = serializers.CharField(required=False, allow_null=True, default=None)
    groups = serializers.ListField(
        child=serializers.ChoiceField(choices=GroupName.choices), required=False, default=list
    )

    def validate_team(self, value):
        from ..models import Team

        if value in (None, ""):
            return None
        team = (
            Team.objects.filter(slug=value).first()
            or Team.objects.filter(name__iexact=value).first()
        )
        if team is None:
            raise serializers.ValidationError(f"no team {value!r}")
        return team


# --- security incidents after declaration (2.1, 5.1) ------------------------------------------
class SecurityInputSerializer(StrictSerializer):
    security = serializers.BooleanField(
        help_text="true: make it a security incident (restricted; the Security Lead is paged "
        "at once); false: an ordinary incident again (visible to everyone)."
    )
    reason = serializers.CharField(max_length=1000, help_text="Why; on the timeline.")


class SecurityOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    security = serializers.BooleanField()
    visible_to_you = serializers.BooleanField(
        help_text="false when the change restricted the incident and you are neither in the "
        "security group nor its declarer nor a role holder: from now on it is a 404 for you."
    )


class PublicTextInputSerializer(StrictSerializer):
    public_title = serializers.CharField(max_length=PUBLIC_TITLE_MAX)
    public_text = serializers.CharField(max_length=PUBLIC_TEXT_MAX)
