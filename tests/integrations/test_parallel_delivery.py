"""Senders deliver at least once and retry: 100 parallel deliveries of one payload make
exactly one alert and one incident, and every one of them is answered 2xx (PostgreSQL,
real threads, real transactions)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from incidents.models import Incident
from incidents.states import TimelineKind
from integrations.models import Alert, AlertGroup, InboundDelivery
from integrations.services.integrations import integration_create
from tests.factories import ServiceFactory, TeamFactory

from .conftest import load

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PARALLEL = 100


def _deliver_all(path: str, secret: str, bodies: list[bytes]) -> list[int]:
    def one(body: bytes) -> int:
        try:
            response = Client().generic(
                "POST",
                path,
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {secret}",
            )
            return response.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        return list(pool.map(one, bodies))


@pytest.mark.parametrize(
    ("kind", "fixture"),
    [
        ("alertmanager", "alertmanager_firing"),
        ("grafana", "grafana_firing"),
        ("pagerduty", "pagerduty_trigger"),
        ("webhook", "webhook_firing"),
    ],
)
def test_parallel_duplicates_make_one_alert_and_one_incident(kind, fixture):
    team = TeamFactory(slug="platform", name="Platform")
    for slug in ("inference-api", "training-scheduler", "postgres", "encryption-api"):
        ServiceFactory(slug=slug, name=slug, team=team)
    integration, secret = integration_create(actor=None, kind=kind, name=f"{kind} parallel")
    body = json.dumps(load(fixture)).encode()

    codes = _deliver_all(f"/integrations/{integration.pk}/alerts/", secret, [body] * PARALLEL)

    assert codes == [202] * PARALLEL
    assert InboundDelivery.objects.filter(status="processed").count() == PARALLEL
    assert AlertGroup.objects.count() == 1
    assert Alert.objects.count() == 1
    assert Alert.objects.get().times_received == PARALLEL
    incident = Incident.objects.get()
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RECEIVED).count() == 1
    assert incident.timeline.filter(kind=TimelineKind.DECLARED).count() == 1


def test_parallel_distinct_alerts_of_one_group_join_one_incident():
    integration, secret = integration_create(actor=None, kind="alertmanager", name="am")
    bodies = []
    for n in range(PARALLEL):
        payload = load("alertmanager_firing")
        payload["alerts"][0]["fingerprint"] = f"{n:016x}"
        payload["alerts"][0]["labels"]["instance"] = f"10.0.0.{n}:8080"
        bodies.append(json.dumps(payload).encode())

    codes = _deliver_all(f"/integrations/{integration.pk}/alerts/", secret, bodies)

    assert codes == [202] * PARALLEL
    assert Alert.objects.count() == PARALLEL
    incident = Incident.objects.get()
    assert set(Alert.objects.values_list("incident", flat=True)) == {incident.pk}
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RECEIVED).count() == PARALLEL


def test_parallel_duplicates_deferred_to_workers_make_one_incident(settings):
    """The default path: the requests store and defer, parallel workers open the incident."""
    from integrations.tasks import process_inbound_task

    settings.TENSAFE_INGEST_DECLARE_INLINE = False
    integration, secret = integration_create(actor=None, kind="webhook", name="hook")
    process_inbound_task.delay = lambda delivery_id: None  # the workers run below
    try:
        body = json.dumps(load("webhook_firing")).encode()
        codes = _deliver_all(f"/integrations/{integration.pk}/alerts/", secret, [body] * PARALLEL)
    finally:
        del process_inbound_task.delay
    assert codes == [202] * PARALLEL
    assert Incident.objects.count() == 0

    def work(delivery_id):
        try:
            return process_inbound_task(delivery_id)
        finally:
            connection.close()

    ids = list(InboundDelivery.objects.values_list("pk", flat=True))
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(work, ids))
    assert set(outcomes) == {"processed"}
    assert Alert.objects.count() == 1
    assert Incident.objects.count() == 1
