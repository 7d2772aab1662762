"""`GET /metrics`: Prometheus text format; request counts and latency, open incidents by
severity, pending deadlines and their lateness, failed deliveries. Served to 127.0.0.1 or to
the bearer of TENSAFE_METRICS_TOKEN."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from incidents.models import Deadline
from integrations.models import InboundDelivery, WebhookSubscription
from integrations.services.integrations import integration_create
from tests.factories import declare

pytestmark = pytest.mark.django_db


def samples(response) -> dict:
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_content(client, ic_user):
    declare(actor=ic_user, severity="P1")
    declare(actor=ic_user, severity="P3", title="Slow dashboards")
    declare(actor=ic_user, severity="P3", title="Drill", drill=True)  # drills are not counted
    overdue = Deadline.objects.filter(status="pending").first()
    Deadline.objects.filter(pk=overdue.pk).update(due_at=timezone.now() - timedelta(seconds=90))
    WebhookSubscription.objects.create(
        name="down", url="https://hooks.example.com/x", events=["declared"], enabled=False
    )
    integration, _ = integration_create(actor=None, kind="webhook", name="hook")
    for age in (5, 40):  # two deliveries waiting for a worker, the oldest 40 s
        InboundDelivery.objects.create(
            integration=integration, received_at=timezone.now() - timedelta(seconds=age), body="{}"
        )
    client.get("/api/v1/services/")  # one request to count (401: no credentials)

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    values = samples(response)
    assert values[("tensafe_open_incidents", (("severity", "P1"),))] == 1
    assert values[("tensafe_open_incidents", (("severity", "P3"),))] == 1
    assert values[("tensafe_open_incidents", (("severity", "P4"),))] == 0
    kind = overdue.kind
    assert values[("tensafe_deadlines_overdue", (("kind", kind),))] >= 1
    assert values[("tensafe_deadline_overdue_seconds", (("kind", kind),))] >= 89
    assert values[("tensafe_deadlines_pending", (("kind", kind),))] >= 1
    assert values[("tensafe_pages", (("status", "failed"),))] == 0
    assert values[("tensafe_webhook_deliveries", (("status", "failed"),))] == 0
    assert values[("tensafe_webhook_subscriptions_disabled", ())] == 1
    assert values[("tensafe_inbound_deliveries", (("status", "received"),))] == 2
    assert 40 <= values[("tensafe_inbound_oldest_waiting_seconds", ())] < 60
    key = (
        "tensafe_http_requests_total",
        (("method", "GET"), ("route", "api/v1/services/"), ("status", "401")),
    )
    assert values[key] >= 1
    assert any(
        name == "tensafe_http_request_duration_seconds_count"
        and dict(labels)["route"] == "api/v1/services/"
        for name, labels in values
    )


def test_outbox_rows_the_sweep_should_have_handed_over_are_counted_per_kind(client):
    from incidents.outbox import OUTBOX_KINDS
    from pir import digests
    from tests.test_outbox import digest

    now = timezone.now()
    digest(next_attempt_at=now - timedelta(minutes=5))  # its hand-off was lost
    digest(next_attempt_at=now)  # due now: within its grace period
    digest(status="sending", lease_until=now - timedelta(seconds=1))  # its worker died
    digest(status="sending", lease_until=now + timedelta(minutes=1))  # being sent
    digest(status="sent", attempts=1)
    values = samples(client.get("/metrics"))
    assert values[("tensafe_outbox_stale", (("kind", digests.KIND),))] == 2
    others = [values[("tensafe_outbox_stale", (("kind", kind),))] for kind in OUTBOX_KINDS]
    assert sum(others) == 2, "the other kinds have none"


def test_metrics_refused_from_elsewhere_without_the_token(client, settings):
    settings.TENSAFE_METRICS_TOKEN = "scrape-me"
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", **remote).status_code == 403
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **remote)
    assert wrong.status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me", **remote)
    assert ok.status_code == 200


def test_no_token_configured_means_local_only(client, settings):
    settings.TENSAFE_METRICS_TOKEN = ""
    assert (
        client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION="Bearer ").status_code
        == 403
    )
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
