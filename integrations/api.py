"""REST endpoints for SRE leads: integrations (create → `{id, url, secret}`, list without
secrets, rotate the secret) and outgoing webhook subscriptions (create, list, change, see
deliveries). Writes go through integrations.services."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.api.fields import StrictSerializer
from incidents.api.schema import FORBIDDEN
from incidents.notify import standard_webhooks_secret
from incidents.states import Severity

from .models import Integration, WebhookDelivery, WebhookSubscription
from .permissions import require_may_manage_integrations
from .selectors import (
    integration_exists,
    integration_get,
    integration_list,
    webhook_delivery_list_for,
    webhook_subscription_get,
    webhook_subscription_list,
)
from .services.integrations import (
    integration_create,
    integration_events_api_base_url,
    integration_rotate_secret,
    integration_update,
    integration_url,
    subscription_create,
    subscription_update,
)


# --- integrations ----------------------------------------------------------------------------
class IntegrationCreateInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(Integration.Kind.choices)
    name = serializers.CharField(max_length=100)
    severity_map = serializers.DictField(
        child=serializers.ChoiceField(Severity.choices),
        required=False,
        help_text='Label value → severity, e.g. {"critical": "P1"}.',
    )
    default_severity = serializers.ChoiceField(Severity.choices, required=False)
    resolve_to_monitoring = serializers.BooleanField(required=False)
    declares_security = serializers.BooleanField(
        required=False,
        help_text="A security tool (4.1: SIEM, WAF): every incident it opens is a security "
        "incident (restricted). An alert labelled security=true opens one from any integration.",
    )
    signing_secret = serializers.CharField(max_length=200, required=False, allow_blank=True)


class IntegrationUpdateInputSerializer(StrictSerializer):
    """What PATCH may change; the kind stays, and the secret changes only by rotation."""

    name = serializers.CharField(max_length=100, required=False)
    enabled = serializers.BooleanField(
        required=False, help_text="A disabled integration's URL answers 404 to senders."
    )
    severity_map = serializers.DictField(
        child=serializers.ChoiceField(Severity.choices),
        required=False,
        help_text='Label value → severity, e.g. {"critical": "P1"}; replaces the whole map.',
    )
    default_severity = serializers.ChoiceField(Severity.choices, required=False)
    resolve_to_monitoring = serializers.BooleanField(required=False)
    declares_security = serializers.BooleanField(
        required=False,
        help_text="Turning it off takes the security lead or a superuser (403 otherwise).",
    )
    signing_secret = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Grafana only: the HMAC key of its signature; empty turns the check off.",
    )


class IntegrationOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    events_api_base_url = serializers.SerializerMethodField(
        help_text="PagerDuty integrations only (else null): the base URL for PagerDuty's own "
        "Events API v2 clients (`pagerduty`, `pdpyras`), which post to <base>/v2/enqueue with "
        "the secret as routing_key.",
    )
    has_signing_secret = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id",
            "kind",
            "name",
            "url",
            "events_api_base_url",
            "enabled",
            "severity_map",
            "default_severity",
            "resolve_to_monitoring",
            "declares_security",
            "has_signing_secret",
            "created_at",
            "secret_rotated_at",
        ]

    def get_url(self, integration) -> str:
        return integration_url(integration)

    def get_events_api_base_url(self, integration) -> str | None:
        return integration_events_api_base_url(integration)

    def get_has_signing_secret(self, integration) -> bool:
        return bool(integration.signing_secret)


class IntegrationSecretOutputSerializer(IntegrationOutputSerializer):
    """Only in the answers to create and rotate: the secret is never shown again."""

    secret = serializers.CharField()

    class Meta(IntegrationOutputSerializer.Meta):
        fields = [
            "id",
            "url",
            "secret",
            *(f for f in IntegrationOutputSerializer.Meta.fields if f not in ("id", "url")),
        ]


def _with_secret(integration, secret) -> dict:
    integration.secret = secret
    return IntegrationSecretOutputSerializer(integration).data


class IntegrationListCreateApi(APIView):
    @extend_schema(
        summary="Integrations (SRE lead; no secrets)",
        responses={200: IntegrationOutputSerializer(many=True), 403: FORBIDDEN},
    )
    def get(self, request):
        require_may_manage_integrations(request.user)
        return Response(IntegrationOutputSerializer(integration_list(), many=True).data)

    @extend_schema(
        summary="Create an integration (SRE lead) → {id, url, secret}",
        request=IntegrationCreateInputSerializer,
        responses={201: IntegrationSecretOutputSerializer},
    )
    def post(self, request):
        require_may_manage_integrations(request.user)
        serializer = IntegrationCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration, secret = integration_create(actor=request.user, **serializer.validated_data)
        return Response(_with_secret(integration, secret), status=status.HTTP_201_CREATED)


class IntegrationDetailApi(APIView):
    @extend_schema(
        summary="An integration (SRE lead; no secret)",
        responses={200: IntegrationOutputSerializer, 403: FORBIDDEN},
    )
    def get(self, request, pk):
        require_may_manage_integrations(request.user)
        return Response(IntegrationOutputSerializer(integration_get(pk)).data)

    @extend_schema(
        summary="Change an integration (SRE lead): name, enabled, severities, resolve and "
        "security behaviour, Grafana signing secret",
        request=IntegrationUpdateInputSerializer,
        responses={200: IntegrationOutputSerializer, 403: FORBIDDEN},
    )
    def patch(self, request, pk):
        require_may_manage_integrations(request.user)
        integration = integration_get(pk)
        serializer = IntegrationUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration = integration_update(
            actor=request.user, integration_id=integration.pk, **serializer.validated_data
        )
        return Response(IntegrationOutputSerializer(integration).data)


class IntegrationRotateSecretApi(APIView):
    @extend_schema(
        summary="Rotate an integration's secret (SRE lead): the old one stops working",
        request=None,
        responses=IntegrationSecretOutputSerializer,
    )
    def post(self, request, pk):
        require_may_manage_integrations(request.user)
        if not integration_exists(pk):
            raise Http404("No such integration.")
        integration, secret = integration_rotate_secret(actor=request.user, integration_id=pk)
        return Response(_with_secret(integration, secret))


# --- outgoing webhooks -----------------------------------------------------------------------
class SubscriptionCreateInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(WebhookSubscription.Event.choices), allow_empty=False
    )
    allow_restricted = serializers.BooleanField(required=False, default=False)


class SubscriptionUpdateInputSerializer(StrictSerializer):
    url = serializers.URLField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(WebhookSubscription.Event.choices),
        allow_empty=False,
        required=False,
    )
    enabled = serializers.BooleanField(required=False)
    allow_restricted = serializers.BooleanField(required=False)


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "enabled",
            "allow_restricted",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
        ]


class SubscriptionSecretOutputSerializer(SubscriptionOutputSerializer):
    standard_webhooks_secret = serializers.SerializerMethodField(
        help_text="The same secret in the Standard Webhooks form (whsec_…), for receivers that "
        "verify webhook-signature with a standardwebhooks library."
    )

    class Meta(SubscriptionOutputSerializer.Meta):
        fields = [*SubscriptionOutputSerializer.Meta.fields, "secret", "standard_webhooks_secret"]

    def get_standard_webhooks_secret(self, subscription) -> str:
        return standard_webhooks_secret(subscription.secret)


class DeliveryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "incident",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "response_code",
            "last_error",
            "created_at",
            "sent_at",
        ]


class SubscriptionListCreateApi(APIView):
    @extend_schema(
        summary="Outgoing webhooks (SRE lead)",
        responses={200: SubscriptionOutputSerializer(many=True), 403: FORBIDDEN},
    )
    def get(self, request):
        require_may_manage_integrations(request.user)
        return Response(SubscriptionOutputSerializer(webhook_subscription_list(), many=True).data)

    @extend_schema(
        summary="Subscribe a URL to incident events (SRE lead); the answer holds its secret",
        request=SubscriptionCreateInputSerializer,
        responses={201: SubscriptionSecretOutputSerializer},
    )
    def post(self, request):
        require_may_manage_integrations(request.user)
        serializer = SubscriptionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sub = subscription_create(actor=request.user, **serializer.validated_data)
        return Response(SubscriptionSecretOutputSerializer(sub).data, status=201)


class SubscriptionDetailApi(APIView):
    @extend_schema(
        summary="An outgoing webhook (SRE lead)",
        responses={200: SubscriptionOutputSerializer, 403: FORBIDDEN},
    )
    def get(self, request, pk):
        require_may_manage_integrations(request.user)
        return Response(SubscriptionOutputSerializer(webhook_subscription_get(pk)).data)

    @extend_schema(
        summary="Change an outgoing webhook; enabled=true re-enables one disabled after failures",
        request=SubscriptionUpdateInputSerializer,
        responses=SubscriptionOutputSerializer,
    )
    def patch(self, request, pk):
        require_may_manage_integrations(request.user)
        webhook_subscription_get(pk)
        serializer = SubscriptionUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sub = subscription_update(
            actor=request.user, subscription_id=pk, **serializer.validated_data
        )
        return Response(SubscriptionOutputSerializer(sub).data)


class SubscriptionDeliveriesApi(APIView):
    @extend_schema(
        summary="The latest 200 deliveries of an outgoing webhook (SRE lead)",
        responses={200: DeliveryOutputSerializer(many=True), 403: FORBIDDEN},
    )
    def get(self, request, pk):
        require_may_manage_integrations(request.user)
        sub = webhook_subscription_get(pk)
        rows = webhook_delivery_list_for(sub)
        return Response(DeliveryOutputSerializer(rows, many=True).data)
