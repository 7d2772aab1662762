"""Pages and endpoints outside /api/v1/ (mounted at the site root): where senders post alerts,
and /metrics for Prometheus."""

from django.urls import path

from incidents.ratelimit import alerts_rate_limited

from .metrics import metrics_view
from .views import integration_receive

urlpatterns = [
    path(
        "integrations/<str:integration_id>/alerts/",
        # Per-integration limit (TENSAFE_RATE_ALERTS) in front of the receiver.
        alerts_rate_limited(integration_receive),
        name="integration-receive",
    ),
    # PagerDuty's clients post to "<base URL>/v2/enqueue" (no trailing slash): with the base
    # URL /integrations/<id>, they reach the same receiver, limits and checks.
    path(
        "integrations/<str:integration_id>/v2/enqueue",
        alerts_rate_limited(integration_receive),
        {"events_api": True},
        name="integration-events-api",
    ),
    path("metrics", metrics_view, name="metrics"),
]
