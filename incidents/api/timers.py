"""Deadlines (pending and fired, with lateness), pages with their delivery outcome, manual
escalation (5.4) and paging a responder (9.3)."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..errors import RuleViolation
from ..models import Deadline, Page
from ..selectors import (
    deadline_lateness_stats,
    deadlines_for_user,
    incident_get_for_user,
    pages_for_user,
)
from ..services.escalations import MANUAL_TARGETS
from .fields import StrictSerializer
from .pagination import Pagination
from .serializers import TimelineEventOutputSerializer, UsernameField


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


class EscalateInputSerializer(StrictSerializer):
    target = serializers.ChoiceField(choices=[(t, t) for t in MANUAL_TARGETS])
    reason = serializers.CharField(max_length=2000)
    requested_action = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class PageUserInputSerializer(StrictSerializer):
    username = UsernameField(max_length=150)
    reason = serializers.CharField(max_length=2000)


class DeadlineListApi(APIView):
    @extend_schema(
        summary="Deadlines (escalation timers), soonest first",
        parameters=[
            OpenApiParameter("incident", int),
            OpenApiParameter("status", str, enum=["pending", "fired", "cancelled"]),
        ],
        responses=DeadlineOutputSerializer(many=True),
    )
    def get(self, request):
        qs = deadlines_for_user(request.user).order_by("due_at", "id")
        if incident := request.query_params.get("incident"):
            qs = qs.filter(incident=incident_get_for_user(request.user, incident))
        if state := request.query_params.get("status"):
            if state not in Deadline.Status.values:
                raise RuleViolation(
                    f"status must be one of {', '.join(Deadline.Status.values)}.",
                    rule="status",
                    field="status",
                )
            qs = qs.filter(status=state)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(DeadlineOutputSerializer(page, many=True).data)


class DeadlineLatenessApi(APIView):
    @extend_schema(
        summary="How late deadlines fired: count and p50/p90/p99/max in milliseconds",
        parameters=[
            OpenApiParameter("hours", int, description="Only the last N hours (default: all)")
        ],
        responses=dict,
    )
    def get(self, request):
        since = None
        if hours := request.query_params.get("hours"):
            if not hours.isdigit() or int(hours) < 1:
                raise RuleViolation(
                    "hours must be a positive whole number.", rule="hours", field="hours"
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
        responses=PageOutputSerializer(many=True),
    )
    def get(self, request, pk):
        incident = incident_get_for_user(request.user, pk)
        return Response(
            PageOutputSerializer(
                pages_for_user(request.user).filter(incident=incident), many=True
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
