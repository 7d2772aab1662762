"""Senders deliver at least once and retry: 100 parallel deliveries of one payload make
exactly one alert and one incident, and every one of them is answered 2xx (PostgreSQL,
real threads, real transactions)."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
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


def _store_all(settings, integration, secret, bodies) -> None:
    """The default path: the requests only store (the hand-off is dropped: workers run after)."""
    from integrations import views

    settings.TENSAFE_INGEST_APPLY_INLINE = False
    waiting = InboundDelivery.objects.filter(status="received").count()
    waker, views._waker = views._waker, SimpleNamespace(wake=lambda: None)
    try:
        codes = _deliver_all(f"/integrations/{integration.pk}/alerts/", secret, bodies)
    finally:
        views._waker = waker
    assert codes == [202] * len(bodies)
    assert InboundDelivery.objects.filter(status="received").count() == waiting + len(bodies)


def _drain_in_parallel(workers: int) -> int:
    from integrations.services.ingest import inbound_apply_pending

    def work(_):
        try:
            return inbound_apply_pending()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(work, range(workers)))


def test_parallel_duplicates_applied_by_parallel_workers_make_one_incident(settings):
    integration, secret = integration_create(actor=None, kind="webhook", name="hook")
    body = json.dumps(load("webhook_firing")).encode()
    _store_all(settings, integration, secret, [body] * PARALLEL)
    assert Incident.objects.count() == 0

    assert _drain_in_parallel(8) == PARALLEL  # each delivery applied once, by one worker
    assert set(InboundDelivery.objects.values_list("status", flat=True)) == {"processed"}
    assert Alert.objects.get().times_received == PARALLEL
    incident = Incident.objects.get()
    assert incident.timeline.filter(kind=TimelineKind.DECLARED).count() == 1


def test_parallel_workers_apply_distinct_groups_each_once(settings):
    integration, secret = integration_create(actor=None, kind="alertmanager", name="am")
    bodies = []
    for n in range(40):
        payload = load("alertmanager_firing")
        payload["groupKey"] = f'{{}}:{{alertname="InferenceHighErrorRate", shard="{n}"}}'
        payload["groupLabels"] = {"alertname": "InferenceHighErrorRate", "shard": str(n)}
        payload["alerts"][0]["fingerprint"] = f"{n:016x}"
        bodies.append(json.dumps(payload).encode())
    _store_all(settings, integration, secret, bodies + bodies)  # each group delivered twice

    assert _drain_in_parallel(4) == 80
    assert AlertGroup.objects.count() == 40
    assert Incident.objects.count() == 40
    assert set(Alert.objects.values_list("times_received", flat=True)) == {2}


def test_one_groups_deliveries_are_applied_in_the_order_received(settings):
    """While a worker holds a group's delivery (firing), another worker does not apply the
    group's next one (resolved) ahead of it, but goes on with other groups."""
    from integrations.services.ingest import inbound_apply_pending

    integration, secret = integration_create(actor=None, kind="alertmanager", name="am")
    other = load("alertmanager_firing")
    other["groupKey"] = "{}:{alertname=Other}"
    other["alerts"][0]["fingerprint"] = "ffffffffffffffff"
    for payload in (load("alertmanager_firing"), load("alertmanager_resolved"), other):
        _store_all(settings, integration, secret, [json.dumps(payload).encode()])
    firing, resolved, unrelated = InboundDelivery.objects.order_by("id")

    held, release = threading.Event(), threading.Event()

    def hold_first():
        with transaction.atomic():
            InboundDelivery.objects.select_for_update().get(pk=firing.pk)
            held.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_first)
    holder.start()
    held.wait(10)
    try:
        assert inbound_apply_pending() == 1  # the other group only
    finally:
        release.set()
        holder.join()
    assert set(
        InboundDelivery.objects.filter(pk__in=[firing.pk, resolved.pk]).values_list(
            "status", flat=True
        )
    ) == {"received"}
    unrelated.refresh_from_db()
    assert unrelated.status == "processed"

    assert inbound_apply_pending() == 2
    alert = Alert.objects.get(fingerprint=load("alertmanager_firing")["alerts"][0]["fingerprint"])
    assert alert.status == Alert.Status.RESOLVED
