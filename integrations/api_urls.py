"""This app's REST endpoints, mounted under /api/v1/."""

from django.urls import path

from . import api

urlpatterns = [
    path("integrations/", api.IntegrationListCreateApi.as_view(), name="integration-list"),
    path("integrations/<str:pk>/", api.IntegrationDetailApi.as_view(), name="integration-detail"),
    path(
        "integrations/<str:pk>/rotate-secret/",
        api.IntegrationRotateSecretApi.as_view(),
        name="integration-rotate-secret",
    ),
    path("webhooks/", api.SubscriptionListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<int:pk>/", api.SubscriptionDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:pk>/deliveries/",
        api.SubscriptionDeliveriesApi.as_view(),
        name="webhook-deliveries",
    ),
]
