"""The Engineering Manager's review digests (8.4): P1 actions weekly, P2 actions every two
weeks, whatever the incident's severity; one per (action priority, period, manager), with a
delivery record, sent through Django's email backend."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents.outbox import outbox_deliver
from incidents.selectors import policy_for
from pir import digests, services
from pir.digests import action_digests_plan, digest_period
from pir.models import ActionDigestDelivery
from tests.factories import ServiceFactory, TeamFactory, UserFactory
from tests.pir.conftest import legacy_item

pytestmark = pytest.mark.django_db


def add(actor, pir, action, priority, **fields):
    fields.setdefault("owner", actor)
    fields.setdefault("due_date", date(2026, 4, 1))
    return services.action_item_create(
        actor=actor, pir_id=pir.pk, action=action, priority=priority, **fields
    )


@pytest.fixture
def setup(resolved):
    team = TeamFactory(slug="edge")
    manager = UserFactory(rank="engineering_manager", team=team, username="em", email="em@t.test")
    service = ServiceFactory(slug="gw", team=team)
    p1, ic = resolved("P1", services=[service])
    p2, ic2 = resolved("P2", services=[service])
    p3, ic3 = resolved("P3", services=[service])
    p3_pir = services.pir_create(actor=ic3, incident_id=p3.pk)
    items = {
        "p1": add(ic, p1.pir, "Fix pool", "P1"),
        "p2": add(ic2, p2.pir, "Add canary", "P2"),
        # 8.4 goes by the action's priority: a P1 action of a P3 incident is reviewed weekly,
        # a P3 action of a P1 incident in no digest.
        "p1_of_p3": add(ic3, p3_pir, "Alert on queue depth", "P1"),
        "p3_of_p1": add(ic, p1.pir, "Tidy the runbook", "P3"),
    }
    add(ic, p1.pir, "Done already", "P2", status="done")
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


def test_one_digest_per_priority_period_and_manager(
    setup, mailoutbox, django_capture_on_commit_callbacks
):
    manager, items = setup
    with django_capture_on_commit_callbacks() as callbacks:
        ids = action_digests_plan()
    assert len(callbacks) == 1  # the hand-off to the workers, after commit
    deliveries = ActionDigestDelivery.objects.filter(pk__in=ids).order_by("priority")
    assert [d.priority for d in deliveries] == ["P1", "P2"]  # P3 actions: no review cadence
    assert all(d.manager == manager and d.status == "pending" for d in deliveries)
    assert set(deliveries[0].action_items.all()) == {items["p1"], items["p1_of_p3"]}
    assert list(deliveries[1].action_items.all()) == [items["p2"]]
    assert "Done already" not in deliveries[1].body
    assert "Tidy the runbook" not in "".join(d.body for d in deliveries)
    assert "P1 actions are reviewed every 7 days, whatever the incident's severity" in (
        deliveries[0].body
    )
    assert f"{items['p1_of_p3'].incident.reference} (P3)" in deliveries[0].body
    assert action_digests_plan() == []  # same period: nothing new
    for delivery in deliveries:
        assert outbox_deliver(digests.KIND, delivery.pk) == "sent"
        assert outbox_deliver(digests.KIND, delivery.pk) == "skipped"
    assert len(mailoutbox) == 2
    assert mailoutbox[0].to == ["em@t.test"]
    assert "Fix pool" in mailoutbox[0].body and "Alert on queue depth" in mailoutbox[0].body
    assert mailoutbox[0].extra_headers["X-Idempotency-Key"] == deliveries[0].idempotency_key


def test_items_without_owner_or_due_date_are_listed_as_needing_them(setup):
    _manager, items = setup
    legacy = legacy_item(items["p1"].pir, action="Old follow-up", priority="P1")
    action_digests_plan()
    digest = ActionDigestDelivery.objects.get(priority="P1")
    assert legacy in digest.action_items.all()
    line = next(x for x in digest.body.splitlines() if "Old follow-up" in x)
    assert "NEEDS AN OWNER" in line and "NEEDS A DUE DATE" in line


def test_next_period_gets_a_new_digest(setup):
    action_digests_plan()
    every = policy_for("P1").action_review_every_days
    with time_machine.travel(timezone.now() + timedelta(days=every), tick=False):
        new = action_digests_plan()
    priorities = sorted(
        ActionDigestDelivery.objects.filter(pk__in=new).values_list("priority", flat=True)
    )
    assert "P1" in priorities


def test_managers_are_not_told_of_incidents_they_cannot_see(resolved):
    team = TeamFactory(slug="sec")
    UserFactory(rank="engineering_manager", team=team, username="em2", email="em2@t.test")
    security = UserFactory(rank="engineering_manager", groups=["security"])
    incident, _ = resolved(
        "P1", ic=security, security=True, services=[ServiceFactory(slug="vault", team=team)]
    )
    add(security, incident.pir, "Rotate keys", "P1")
    assert action_digests_plan() == []
