"""The delivery outbox for SRE leads: every kind's rows in one list, and the two things a lead
may do to one row (send it again now, give it up). Reads through `incidents.selectors`, writes
through `incidents.services.outbox`, audited there."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from ..outbox import OUTBOX_KINDS, outbox_statuses
from ..permissions import require_sre_lead
from ..selectors import outbox_list_for_user, outbox_row_for_user
from ..services.outbox import outbox_give_up, outbox_retry
from .fields import ID_SCHEMA, id_param
from .schema import CONFLICT, FORBIDDEN, NOT_FOUND, RULE


class OutboxRowOutputSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="The outbox kind, e.g. status-subscriber, pir-digest.")
    id = serializers.IntegerField(source="pk")
    idempotency_key = serializers.CharField(help_text="Sent with every try of the message.")
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    lease_until = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    response_code = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    incident = serializers.IntegerField(
        allow_null=True, help_text="The incident it is about; null for none or several."
    )


def _kind_param() -> OpenApiParameter:
    return OpenApiParameter("kind", str, enum=sorted(OUTBOX_KINDS) or None)


class OutboxListApi(GenericAPIView):
    serializer_class = OutboxRowOutputSerializer
    filter_backends = []  # kind, status and incident are read below, for every kind's table

    @extend_schema(
        summary="Deliveries of every outbox kind, newest first (SRE leads)",
        parameters=[
            _kind_param(),
            OpenApiParameter("status", str, enum=outbox_statuses() or None),
            OpenApiParameter("incident", ID_SCHEMA),
        ],
        responses={
            200: OutboxRowOutputSerializer(many=True),
            400: RULE,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def get(self, request):
        require_sre_lead(request.user)
        rows = outbox_list_for_user(
            request.user,
            kind=request.query_params.get("kind"),
            status=request.query_params.get("status"),
            incident_id=id_param(request, "incident", "an incident id"),
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(OutboxRowOutputSerializer(page, many=True).data)


class _OutboxActionApi(APIView):
    """POST …/outbox/{kind}/{id}/<action>/: the service, then the row as the list shows it."""

    service = None

    def post(self, request, kind, row_id):
        type(self).service(actor=request.user, kind=kind, row_id=row_id)
        row = outbox_row_for_user(request.user, kind, row_id)
        return Response(OutboxRowOutputSerializer(row).data)


class OutboxRetryApi(_OutboxActionApi):
    service = staticmethod(outbox_retry)

    @extend_schema(
        summary="Send a failed or waiting delivery now (SRE leads; audited)",
        request=None,
        responses={200: OutboxRowOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, kind, row_id):
        return super().post(request, kind, row_id)


class OutboxGiveUpApi(_OutboxActionApi):
    service = staticmethod(outbox_give_up)

    @extend_schema(
        summary="Stop trying a delivery that waits for its next try (SRE leads; audited)",
        request=None,
        responses={200: OutboxRowOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, kind, row_id):
        return super().post(request, kind, row_id)
