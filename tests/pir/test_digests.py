"""The Engineering Manager's review digests (8.4): P1 weekly, P2 every two weeks, one per
(severity, period, manager), with a delivery record, sent through Django's email backend."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents.outbox import outbox_deliver
from incidents.selectors import policy_for
from pir import digests, services
from pir.digests import action_digests_plan, digest_period
from pir.models import ActionDigestDelivery
from tests.factories import ServiceFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(resolved):
    team = TeamFactory(slug="edge")
    manager = UserFactory(rank="engineering_manager", team=team, username="em", email="em@t.test")
    service = ServiceFactory(slug="gw", team=team)
    p1, ic = resolved("P1", services=[service])
    p2, _ = resolved("P2", services=[service])
    p3, ic3 = resolved("P3", services=[service])
    items = {
        "p1": services.action_item_create(
            actor=ic, pir_id=p1.pir.pk, action="Fix pool", priority="P1"
        ),
        "p2": services.action_item_create(
            actor=ic, pir_id=p2.pir.pk, action="Add canary", priority="P2"
        ),
    }
    services.action_item_create(
        actor=ic, pir_id=p1.pir.pk, action="Done already", priority="P2", status="done"
    )
    services.pir_create(actor=ic3, incident_id=p3.pk)
    return manager, items


def test_periods_follow_the_policy():
    day = datetime(2026, 3, 4).date()
    p1 = policy_for("P1").action_review_every_days
    p2 = policy_for("P2").action_review_every_days
    start1, end1 = digest_period(day, p1)
    start2, end2 = digest_period(day, p2)
    assert (end1 - start1).days == p1 - 1 and start1 <= day <= end1
    assert (end2 - start2).days == p2 - 1 and start2 <= day <= end2
    assert start1.weekday() == 0  # Monday-based


def test_one_digest_per_severity_period_and_manager(
    setup, mailoutbox, django_capture_on_commit_callbacks
):
    manager, items = setup
    with django_capture_on_commit_callbacks() as callbacks:
        ids = action_digests_plan()
    assert len(callbacks) == 1  # the hand-off to the workers, after commit
    deliveries = ActionDigestDelivery.objects.filter(pk__in=ids).order_by("severity")
    assert [d.severity for d in deliveries] == ["P1", "P2"]  # P3 has no review cadence
    assert all(d.manager == manager and d.status == "pending" for d in deliveries)
    assert list(deliveries[0].action_items.all()) == [items["p1"]]
    assert "Done already" not in deliveries[0].body
    assert action_digests_plan() == []  # same period: nothing new
    for delivery in deliveries:
        assert outbox_deliver(digests.KIND, delivery.pk) == "sent"
        assert outbox_deliver(digests.KIND, delivery.pk) == "skipped"
    assert len(mailoutbox) == 2
    assert mailoutbox[0].to == ["em@t.test"]
    assert "Fix pool" in mailoutbox[0].body
    assert mailoutbox[0].extra_headers["X-Idempotency-Key"] == deliveries[0].idempotency_key


def test_next_period_gets_a_new_digest(setup):
    action_digests_plan()
    every = policy_for("P1").action_review_every_days
    with time_machine.travel(timezone.now() + timedelta(days=every), tick=False):
        new = action_digests_plan()
    severities = sorted(
        ActionDigestDelivery.objects.filter(pk__in=new).values_list("severity", flat=True)
    )
    assert "P1" in severities


def test_managers_are_not_told_of_incidents_they_cannot_see(resolved):
    team = TeamFactory(slug="sec")
    UserFactory(rank="engineering_manager", team=team, username="em2", email="em2@t.test")
    security = UserFactory(rank="engineering_manager", groups=["security"])
    incident, _ = resolved(
        "P1", ic=security, security=True, services=[ServiceFactory(slug="vault", team=team)]
    )
    services.action_item_create(
        actor=security, pir_id=incident.pir.pk, action="Rotate keys", priority="P1"
    )
    assert action_digests_plan() == []
