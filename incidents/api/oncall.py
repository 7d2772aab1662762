"""On-call API: who is on call (now or at a time), shifts and hand-offs, schedules with their
calendar feed URLs, and the escalation contacts of 5.3 resolved to people."""

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..errors import RuleViolation
from ..escalation import TARGET_LABELS, Recipients
from ..models import ContactMethod
from ..oncall import oncall_at, oncall_shifts
from ..selectors import contact_method_list_for, policy_document, schedule_get, schedule_list
from .fields import (
    ID_SCHEMA,
    AwareDateTimeField,
    StrictSerializer,
    incident_from_query,
    query_text,
)
from .schema import NOT_FOUND

MAX_SHIFT_RANGE = timedelta(days=92)


def _when(request, name: str, default):
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return AwareDateTimeField().to_internal_value(value)
    except serializers.ValidationError as exc:
        raise RuleViolation(
            f"{name}: {exc.detail[0]}", rule=f"{name} is an ISO 8601 time with offset", field=name
        ) from None


class PersonOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.CharField()


class HandoffOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    primary = PersonOutputSerializer(allow_null=True)
    backup = PersonOutputSerializer(allow_null=True)


class OnCallOutputSerializer(serializers.Serializer):
    schedule = serializers.CharField(help_text="The schedule's slug")
    name = serializers.CharField()
    team = serializers.CharField(help_text="The team's slug")
    at = serializers.DateTimeField()
    primary = PersonOutputSerializer(allow_null=True)
    backup = PersonOutputSerializer(allow_null=True)
    rotation = serializers.CharField(allow_null=True)
    next_handoffs = HandoffOutputSerializer(many=True)
    ical_url = serializers.URLField()


class ShiftOutputSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    primary = PersonOutputSerializer(allow_null=True)
    backup = PersonOutputSerializer(allow_null=True)


class ScheduleShiftsOutputSerializer(serializers.Serializer):
    schedule = serializers.CharField()
    shifts = ShiftOutputSerializer(many=True)


class FeedOutputSerializer(serializers.Serializer):
    ical_url = serializers.URLField()


class EscalationContactOutputSerializer(serializers.Serializer):
    role = serializers.CharField()
    name = serializers.CharField()
    contact_method = serializers.CharField()
    response_minutes = serializers.IntegerField(allow_null=True)
    p1_only = serializers.BooleanField()
    people = PersonOutputSerializer(many=True)
    note = serializers.CharField(allow_null=True, allow_blank=True)


def _person(user):
    return (
        None if user is None else {"username": user.username, "name": str(user), "rank": user.rank}
    )


def _feed_url(request, name, token):
    return request.build_absolute_uri(reverse(name, args=[token]))


class OnCallNowApi(APIView):
    @extend_schema(
        summary="Who is on call for each schedule (now, or ?at=)",
        parameters=[
            OpenApiParameter("team", str, description="Team slug"),
            OpenApiParameter("at", str, description="ISO 8601 time with offset; default now"),
        ],
        responses=OnCallOutputSerializer(many=True),
    )
    def get(self, request):
        at = _when(request, "at", timezone.now())
        schedules = schedule_list(team_slug=query_text(request, "team"))
        out = []
        for schedule in schedules:
            now = oncall_at(schedule, at)
            upcoming = oncall_shifts(schedule, at, at + timedelta(days=8))[1:4]
            out.append(
                {
                    "schedule": schedule.slug,
                    "name": schedule.name,
                    "team": schedule.team.slug,
                    "at": at,
                    "primary": _person(now.primary),
                    "backup": _person(now.backup),
                    "rotation": now.rotation.name if now.rotation else None,
                    "next_handoffs": [
                        {"at": s.start, "primary": _person(s.primary), "backup": _person(s.backup)}
                        for s in upcoming
                    ],
                    "ical_url": _feed_url(request, "ical-schedule", schedule.feed_token),
                }
            )
        return Response(out)


class ScheduleShiftsApi(APIView):
    @extend_schema(
        summary="A schedule's shifts over [start, end) (at most 92 days)",
        parameters=[OpenApiParameter("start", str), OpenApiParameter("end", str)],
        responses=ScheduleShiftsOutputSerializer,
    )
    def get(self, request, slug):
        schedule = schedule_get(slug)
        start = _when(request, "start", timezone.now())
        end = _when(request, "end", start + timedelta(days=14))
        if not start < end <= start + MAX_SHIFT_RANGE:
            raise RuleViolation(
                "end must be after start and at most 92 days later.",
                rule="shift range",
                field="end",
            )
        return Response(
            {
                "schedule": schedule.slug,
                "shifts": [
                    {
                        "start": s.start,
                        "end": s.end,
                        "primary": _person(s.primary),
                        "backup": _person(s.backup),
                    }
                    for s in oncall_shifts(schedule, start, end)
                ],
            }
        )


class MyFeedApi(APIView):
    @extend_schema(
        summary="Your personal on-call calendar feed URL", responses=FeedOutputSerializer
    )
    def get(self, request):
        return Response({"ical_url": _feed_url(request, "ical-user", request.user.feed_token)})


class EscalationContactsApi(APIView):
    @extend_schema(
        summary="Escalation contacts (5.3) resolved to people, for an incident or in general",
        parameters=[OpenApiParameter("incident", ID_SCHEMA)],
        responses={200: EscalationContactOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request):
        incident = incident_from_query(request)
        recipients = Recipients(timezone.now())
        out = []
        for contact in policy_document()["escalation_contacts"]:  # seeds the policy if new
            people, note = recipients.resolve(contact.role, incident)
            out.append(
                {
                    "role": contact.role,
                    "name": contact.name or TARGET_LABELS.get(contact.role, contact.role),
                    "contact_method": contact.contact_method,
                    "response_minutes": contact.response_minutes,
                    "p1_only": contact.p1_only,
                    "people": [_person(p) for p in people],
                    "note": note,
                }
            )
        return Response(out)


class ContactMethodSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactMethod
        fields = ["id", "kind", "target", "enabled"]


class ContactMethodInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=ContactMethod.KINDS)
    target = serializers.CharField(max_length=500)
    secret = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")


class MyContactMethodsApi(APIView):
    @extend_schema(summary="How you are paged", responses=ContactMethodSerializer(many=True))
    def get(self, request):
        methods = contact_method_list_for(request.user)
        return Response(ContactMethodSerializer(methods, many=True).data)

    @extend_schema(
        summary="Add a way to page you (email, Slack webhook, signed JSON webhook, PagerDuty)",
        request=ContactMethodInputSerializer,
        responses={201: ContactMethodSerializer},
    )
    def post(self, request):
        serializer = ContactMethodInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = services.contact_method_create(
            actor=request.user, user=request.user, **serializer.validated_data
        )
        return Response(ContactMethodSerializer(method).data, status=201)


class MyContactMethodApi(APIView):
    @extend_schema(summary="Remove one of your contact methods", responses={204: None})
    def delete(self, request, method_id):
        method = get_object_or_404(contact_method_list_for(request.user), pk=method_id)
        services.contact_method_delete(actor=request.user, method=method)
        return Response(status=204)
