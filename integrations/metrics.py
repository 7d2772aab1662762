"""`GET /metrics` in Prometheus' text exposition format (prometheus-client).

- Requests: `tensafe_http_requests_total{method,route,status}` and
  `tensafe_http_request_duration_seconds{method,route}` from a small middleware; `route` is the
  URL pattern (`api/v1/incidents/<int:pk>/`), never the raw path, so ids do not explode the
  label space. Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (an empty
  directory, wiped at start) so the workers' counts are added up.
- From the database at scrape time: open incidents by severity, pending deadlines (how many,
  how many overdue, how late the most overdue is) and how late fired ones fired in the last
  hour, pages and outgoing webhook deliveries by status (failed ones included), disabled
  webhook subscriptions, inbound deliveries not applied, outbox rows the sweep should have
  handed over again (`tensafe_outbox_stale{kind}`).

Protected: answered to 127.0.0.1/::1, or to `Authorization: Bearer $TENSAFE_METRICS_TOKEN`;
everything else gets 403.
"""

from __future__ import annotations

import hmac
import os
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from incidents.models import Deadline, Incident, Page
from incidents.outbox import OUTBOX_KINDS, outbox_stale_count
from incidents.states import OPEN_STATUSES, Severity

from .models import InboundDelivery, WebhookDelivery, WebhookSubscription

REQUESTS = Counter(
    "tensafe_http_requests",
    "HTTP requests answered, by method, URL pattern and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "tensafe_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and URL pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")
# What generate_latest() writes (underscore escaping): the classic text format every
# Prometheus version scrapes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response


class DatabaseCollector:
    """Gauges read from the database on every scrape (a handful of aggregate queries)."""

    def collect(self):
        now = timezone.now()
        yield _open_incidents()
        yield from _deadlines(now)
        yield _by_status(
            "tensafe_pages",
            "Pages (incidents.Page) by status; failed ones did not reach the person.",
            Page.objects,
            [s.value for s in Page.Status],
        )
        yield _by_status(
            "tensafe_webhook_deliveries",
            "Outgoing webhook deliveries by status.",
            WebhookDelivery.objects,
            [s.value for s in WebhookDelivery.Status],
        )
        disabled = GaugeMetricFamily(
            "tensafe_webhook_subscriptions_disabled",
            "Outgoing webhook subscriptions disabled (after repeated failures or by hand).",
        )
        disabled.add_metric([], WebhookSubscription.objects.filter(enabled=False).count())
        yield disabled
        yield _by_status(
            "tensafe_inbound_deliveries",
            "Alert deliveries received, by status (received = not applied yet).",
            InboundDelivery.objects,
            [s.value for s in InboundDelivery.Status],
        )
        waiting = GaugeMetricFamily(
            "tensafe_inbound_oldest_waiting_seconds",
            "Age of the oldest alert delivery received and not applied yet (0: none waiting); "
            "workers apply within about a second, so a growing value means they are behind.",
        )
        oldest = InboundDelivery.objects.filter(status=InboundDelivery.Status.RECEIVED).aggregate(
            oldest=Min("received_at")
        )["oldest"]
        waiting.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield waiting
        yield _outbox_stale(now)


def _open_incidents() -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(
        "tensafe_open_incidents", "Open (not resolved) incidents by severity.", labels=["severity"]
    )
    counts = dict(
        Incident.objects.filter(status__in=OPEN_STATUSES, drill=False)
        .values_list("severity")
        .annotate(n=Count("id"))
    )
    for severity in Severity.values:
        gauge.add_metric([severity], counts.get(severity, 0))
    return gauge


def _deadlines(now):
    pending = GaugeMetricFamily(
        "tensafe_deadlines_pending", "Pending deadlines (timers) by kind.", labels=["kind"]
    )
    overdue = GaugeMetricFamily(
        "tensafe_deadlines_overdue",
        "Pending deadlines already past due (the sweeper is behind) by kind.",
        labels=["kind"],
    )
    lateness = GaugeMetricFamily(
        "tensafe_deadline_overdue_seconds",
        "How far past due the most overdue pending deadline is, by kind (0: none overdue).",
        labels=["kind"],
    )
    rows = (
        Deadline.objects.filter(status=Deadline.Status.PENDING)
        .values("kind")
        .annotate(n=Count("id"), earliest=Min("due_at"))
    )
    overdue_counts = dict(
        Deadline.objects.filter(status=Deadline.Status.PENDING, due_at__lt=now)
        .values_list("kind")
        .annotate(n=Count("id"))
    )
    for row in rows:
        pending.add_metric([row["kind"]], row["n"])
        overdue.add_metric([row["kind"]], overdue_counts.get(row["kind"], 0))
        late = max(0.0, (now - row["earliest"]).total_seconds())
        lateness.add_metric([row["kind"]], late)
    fired = GaugeMetricFamily(
        "tensafe_deadline_fired_lateness_max_seconds",
        "Largest lateness of deadlines fired in the last hour (from when each could first "
        "fire: its due time, or its creation when written already overdue), by kind.",
        labels=["kind"],
    )
    for row in (
        Deadline.objects.filter(
            status=Deadline.Status.FIRED,
            fired_at__gte=now - timedelta(hours=1),
            lateness_ms__isnull=False,
        )
        .values("kind")
        .annotate(worst=Max("lateness_ms"))
    ):
        fired.add_metric([row["kind"]], row["worst"] / 1000)
    return [pending, overdue, lateness, fired]


def _outbox_stale(now) -> GaugeMetricFamily:
    """Per outbox kind (incidents/outbox.py), the rows the sweep exists for. The sweep hands
    them over again every two seconds, so a count that stays above 0 means the sweep itself
    or the broker is failing (a failed sweep is only logged, in the worker that ran it)."""
    gauge = GaugeMetricFamily(
        "tensafe_outbox_stale",
        "Outbox rows a worker should have handled by now (pending past the grace period, or "
        "sending past the lease), by kind; above 0 for long means the sweep or broker fails.",
        labels=["kind"],
    )
    for kind in sorted(OUTBOX_KINDS):
        gauge.add_metric([kind], outbox_stale_count(kind, now))
    return gauge


def _by_status(name: str, documentation: str, manager, statuses: list[str]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=["status"])
    counts = dict(manager.values_list("status").annotate(n=Count("id")))
    for status in statuses:
        gauge.add_metric([status], counts.get(status, 0))
    return gauge


_DATABASE_COLLECTOR = DatabaseCollector()


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    registry.register(_DATABASE_COLLECTOR)
    return registry


def _allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "TENSAFE_METRICS_TOKEN", "")
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    return request.META.get("REMOTE_ADDR") in LOCAL_ADDRESSES


@require_safe  # read-only: any other method is 405
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return JsonResponse(
            {
                "detail": "Metrics are served to 127.0.0.1, or with Authorization: Bearer "
                "$TENSAFE_METRICS_TOKEN."
            },
            status=403,
        )
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE)
