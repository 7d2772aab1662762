"""Deadlines (pending and fired, with lateness), pages with their delivery outcome, manual
escalation (5.4) and paging a responder (9.3)."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..errors import RuleViolation
from ..models import Deadline, Page
from ..redaction import contact_target_for, text_without_target
from ..selectors import (
    deadline_lateness_stats,
    deadlines_for_user,
    incident_get_for_user,
    pages_for_user,
)
from ..services.escalations import MANUAL_TARGETS
from .fields import ID_SCHEMA, StrictSerializer, incident_from_query
from .schema import CONFLICT, FORBIDDEN, NOT_FOUND
from .serializers import TimelineEventOutputSerializer, UsernameField

# ?hours= reaches back at most a century (further would be before year 1 for timedelta).
MAX_HOURS = 100 * 366 * 24


class DeadlineOutputSerializer(serializers.ModelSerializer):
    incident = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Deadline
        fields = [
            "id",
            "incident",
            "kind",
            "key",
            "due_at",
            "status",
            "fired_at",
            "lateness_ms",
            "data",
        ]


class PageOutputSerializer(serializers.ModelSerializer):
    recipient = serializers.SlugRelatedField(slug_field="username", read_only=True)
    target = serializers.CharField(
        read_only=True,
        help_text="Where the page went: the email address or webhook URL in full for its owner "
        "(the recipient) and SRE leads, masked for everyone else (`a***@example.com`, "
        "`https://hooks.example.com/…`): webhook URLs are credentials.",
    )
    last_error = serializers.CharField(
        read_only=True, help_text="The last failure, with the target masked as in `target`."
    )

    class Meta:
        model = Page
        fields = [
            "id",
            "incident",
            "rule_key",
            "recipient",
            "channel",
            "target",
            "subject",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "response_code",
            "created_at",
            "sent_at",
        ]

    def to_representation(self, page):
        """Contact targets as `incidents.redaction.contact_target_for` shows them to the
        viewer (the request's user)."""
        data = super().to_representation(page)
        viewer = self.context["request"].user
        shown = contact_target_for(viewer, page.recipient_id, page.target)
        if shown != page.target:
            data["target"] = shown
            data["last_error"] = text_without_target(page.last_error, page.target)
        return data


class EscalateInputSerializer(StrictSerializer):
    target = serializers.ChoiceField(choices=[(t, t) for t in MANUAL_TARGETS])
    reason = serializers.CharField(max_length=2000)
    requested_action = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class PageUserInputSerializer(StrictSerializer):
    username = UsernameField(max_length=150)
    reason = serializers.CharField(max_length=2000)


class DeadlineListApi(GenericAPIView):
    serializer_class = DeadlineOutputSerializer

    def get_queryset(self):
        return deadlines_for_user(self.request.user).order_by("due_at", "id")

    @extend_schema(
        summary="Deadlines (escalation timers), soonest first",
        parameters=[
            OpenApiParameter("incident", ID_SCHEMA),
            OpenApiParameter("status", str, enum=Deadline.Status.values),
        ],
        responses={200: DeadlineOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request):
        qs = self.get_queryset()
        if (incident := incident_from_query(request)) is not None:
            qs = qs.filter(incident=incident)
        if (state := request.query_params.get("status")) is not None:
            if state not in Deadline.Status.values:
                raise RuleViolation(
                    f"status must be one of {', '.join(Deadline.Status.values)}.",
                    rule="status",
                    field="status",
                )
            qs = qs.filter(status=state)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DeadlineOutputSerializer(page, many=True).data)


class DeadlineLatenessApi(APIView):
    @extend_schema(
        summary="How late deadlines fired: count and p50/p90/p99/max in milliseconds",
        parameters=[
            OpenApiParameter(
                "hours",
                {"type": "integer", "minimum": 1, "maximum": MAX_HOURS},
                description="Only the last N hours (default: all)",
            )
        ],
        responses=dict,
    )
    def get(self, request):
        since = None
        if (hours := request.query_params.get("hours")) is not None:
            if not (hours.isascii() and hours.isdigit()) or not 1 <= int(hours) <= MAX_HOURS:
                raise RuleViolation(
                    f"hours must be a whole number from 1 to {MAX_HOURS}.",
                    rule="hours",
                    field="hours",
                )
            since = timezone.now() - timedelta(hours=int(hours))
        pending = deadlines_for_user(request.user).filter(status="pending")
        overdue = pending.filter(due_at__lt=timezone.now()).count()
        return Response(
            {
                **deadline_lateness_stats(request.user, since=since),
                "pending": pending.count(),
                "overdue": overdue,
            }
        )


class IncidentPagesApi(APIView):
    @extend_schema(
        summary="Pages sent for an incident, with outcomes",
        description="Contact targets (email addresses, Slack and webhook URLs) are shown in "
        "full only to their owner and to SRE leads; everyone else sees them masked.",
        responses=PageOutputSerializer(many=True),
    )
    def get(self, request, pk):
        incident = incident_get_for_user(request.user, pk)
        return Response(
            PageOutputSerializer(
                pages_for_user(request.user).filter(incident=incident),
                many=True,
                context={"request": request},
            ).data
        )


class IncidentEscalateApi(APIView):
    @extend_schema(
        summary="Escalate (5.2) with the 5.4 request template, to an escalation contact",
        request=EscalateInputSerializer,
        responses={201: TimelineEventOutputSerializer},
    )
    def post(self, request, pk):
        serializer = EscalateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event, _pages = services.incident_escalate(
            actor=request.user, incident_id=pk, **serializer.validated_data
        )
        return Response(TimelineEventOutputSerializer(event).data, status=status.HTTP_201_CREATED)


class PageNextInputSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why (5.4); by default that the late contact did not answer in time.",
    )


class EscalationPageNextApi(APIView):
    @extend_schema(
        summary="Page the next escalation contact after a late one (5.3)",
        description="For a contact marked late (no acknowledgement within their response "
        "time), page the next contact of 5.3 the incident's `escalation_responses` offer "
        "(`next_contact`), with the 5.4 request. 409 when the contact answered, is not late, "
        "was followed already, or no contact is left.",
        request=PageNextInputSerializer,
        responses={201: TimelineEventOutputSerializer, 403: FORBIDDEN, 409: CONFLICT},
    )
    def post(self, request, pk, response_id):
        serializer = PageNextInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event, _pages = services.escalation_page_next(
            actor=request.user,
            incident_id=pk,
            response_id=response_id,
            reason=serializer.validated_data["reason"],
        )
        return Response(TimelineEventOutputSerializer(event).data, status=status.HTTP_201_CREATED)


class IncidentPageUserApi(APIView):
    @extend_schema(
        summary='Page a responder about this incident (9.3 "/pd page @username reason")',
        request=PageUserInputSerializer,
        responses={201: TimelineEventOutputSerializer},
    )
    def post(self, request, pk):
        serializer = PageUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event, _pages = services.incident_page_user(
            actor=request.user, incident_id=pk, user=data["username"], reason=data["reason"]
        )
        return Response(TimelineEventOutputSerializer(event).data, status=status.HTTP_201_CREATED)
