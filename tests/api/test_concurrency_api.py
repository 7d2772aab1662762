"""Identical transitions racing over HTTP: the row lock lets exactly one through."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from incidents.groups import ensure_groups
from incidents.models import Incident
from tests.factories import UserFactory, declare

from .conftest import incident_url

THREADS = 24


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_24_identical_transitions_one_wins(api):
    ensure_groups()  # a flush by an earlier transactional test may have taken the groups
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    incident = declare(actor=ic)
    clients = [api(ic) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def race(client):
        try:
            barrier.wait(timeout=30)
            response = client.post(
                incident_url(incident, "transition"), {"to": "identified"}, format="json"
            )
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    connections.close_all()

    codes = Counter(code for code, _ in results)
    assert len(results) == THREADS, results
    assert codes == {200: 1, 409: THREADS - 1}, codes
    for code, body in results:
        if code == 409:
            assert "already there" in body["detail"]
            assert body["allowed"] == ["monitoring"]
    incident = Incident.objects.get(pk=incident.pk)
    assert incident.status == "identified"
    assert incident.timeline.filter(kind="status_changed").count() == 1
