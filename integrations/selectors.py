"""Reads of integrations (docs/architecture.md, "Integrations"): the API and the receiving
endpoint ask here, never the models' managers."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from .models import Integration, WebhookDelivery, WebhookSubscription


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def integration_list() -> QuerySet[Integration]:
    return Integration.objects.all()


def integration_exists(integration_id) -> bool:
    pk = _uuid(integration_id)
    return pk is not None and Integration.objects.filter(pk=pk).exists()


def integration_get(integration_id) -> Integration:
    pk = _uuid(integration_id)
    integration = None if pk is None else Integration.objects.filter(pk=pk).first()
    if integration is None:
        raise Http404("No such integration.")
    return integration


def integration_enabled_get(integration_id) -> Integration | None:
    """The enabled integration an alert is posted to, or None (unknown, malformed, disabled)."""
    pk = _uuid(integration_id)
    return None if pk is None else Integration.objects.filter(pk=pk, enabled=True).first()


def webhook_subscription_list() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.all()


def webhook_subscription_get(subscription_id) -> WebhookSubscription:
    subscription = WebhookSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        raise Http404("No such webhook subscription.")
    return subscription


def webhook_delivery_list_for(subscription: WebhookSubscription, *, limit: int = 200):
    """The subscription's latest deliveries, newest first."""
    return WebhookDelivery.objects.filter(subscription=subscription).order_by("-id")[:limit]
