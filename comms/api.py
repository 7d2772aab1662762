"""REST API of communications (api-contract.md: `POST /api/v1/incidents/{id}/updates/`).
Every write calls a service, every read a selector; incidents are reached only through
`incident_get_for_user`, so nobody sees or posts more than the rules allow."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.api.fields import StrictSerializer
from incidents.api.schema import FORBIDDEN, RULE
from incidents.selectors import incident_get_for_user

from . import services
from .models import Update
from .render import update_draft
from .selectors import incident_conformance, update_list_for_incident


# --- serializers ---------------------------------------------------------------------------------
class UpdateInputSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=Update.Channel.choices)
    template = serializers.ChoiceField(choices=Update.Template.choices, required=False)
    text = serializers.CharField(
        required=False,
        max_length=20000,
        help_text="Your own (edited) text; without it the template is prefilled from the "
        "incident. In customer email, [Customer] becomes each customer's name.",
    )


class DraftQuerySerializer(StrictSerializer):
    channel = serializers.ChoiceField(
        choices=Update.Channel.choices, default=Update.Channel.STATUS_PAGE
    )
    template = serializers.ChoiceField(choices=Update.Template.choices, required=False)


class UpdateOutputSerializer(serializers.ModelSerializer):
    posted_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    deliveries = serializers.SerializerMethodField()

    class Meta:
        model = Update
        fields = [
            "id",
            "incident",
            "channel",
            "template",
            "subject",
            "text",
            "posted_by",
            "posted_at",
            "next_update_at",
            "deliveries",
        ]

    def get_deliveries(self, update) -> dict[str, int]:
        """Recipients by delivery status (customer contacts, team webhooks)."""
        counts: dict[str, int] = {}
        for delivery in update.deliveries.all():
            counts[delivery.status] = counts.get(delivery.status, 0) + 1
        return counts


class DraftOutputSerializer(serializers.Serializer):
    channel = serializers.CharField()
    template = serializers.CharField()
    subject = serializers.CharField()
    text = serializers.CharField()


class ObligationOutputSerializer(serializers.Serializer):
    channel = serializers.CharField()
    sequence = serializers.IntegerField()
    kind = serializers.CharField()
    target_at = serializers.DateTimeField(allow_null=True)
    actual_at = serializers.DateTimeField(allow_null=True)
    update = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    late_seconds = serializers.IntegerField(allow_null=True)


class ConformanceSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    met = serializers.IntegerField()
    missed = serializers.IntegerField()
    pending = serializers.IntegerField()
    met_ratio = serializers.FloatField(allow_null=True)


class ConformanceOutputSerializer(serializers.Serializer):
    incident = serializers.IntegerField()
    severity = serializers.CharField()
    obligations = ObligationOutputSerializer(many=True)
    summary = ConformanceSummarySerializer()


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- views ---------------------------------------------------------------------------------------
class IncidentUpdatesApi(APIView):
    @extend_schema(
        summary="Communications posted for an incident, oldest first",
        responses=UpdateOutputSerializer(many=True),
    )
    def get(self, request, pk):
        incident = incident_get_for_user(request.user, pk)
        updates = update_list_for_incident(incident)
        return Response(UpdateOutputSerializer(updates, many=True).data)

    @extend_schema(
        summary="Post a communication (status page, internal update, customer email)",
        request=UpdateInputSerializer,
        responses={201: UpdateOutputSerializer, 400: RULE, 403: FORBIDDEN},
    )
    def post(self, request, pk):
        data = _valid(UpdateInputSerializer, request.data)
        update = services.update_post(actor=request.user, incident_id=pk, **data)
        update = update_list_for_incident(update.incident).get(pk=update.pk)
        return Response(UpdateOutputSerializer(update).data, status=status.HTTP_201_CREATED)


class IncidentUpdateDraftApi(APIView):
    @extend_schema(
        summary="The procedures' template for a channel, prefilled from the incident",
        parameters=[
            OpenApiParameter("channel", enum=Update.Channel.values, required=False),
            OpenApiParameter(
                "template",
                enum=Update.Template.values,
                required=False,
                description="Default: the incident's current status.",
            ),
        ],
        responses={200: DraftOutputSerializer, 400: RULE},
    )
    def get(self, request, pk):
        incident = incident_get_for_user(request.user, pk)
        query = _valid(DraftQuerySerializer, request.query_params.dict())
        draft = update_draft(incident, query["channel"], query.get("template"), now=timezone.now())
        return Response(DraftOutputSerializer(draft).data)


class IncidentConformanceApi(APIView):
    @extend_schema(
        summary="Communication deadlines: target, actual and met/missed (2.1, 6.3)",
        responses=ConformanceOutputSerializer,
    )
    def get(self, request, pk):
        incident = incident_get_for_user(request.user, pk)
        return Response(ConformanceOutputSerializer(incident_conformance(incident)).data)
