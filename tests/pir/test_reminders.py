"""Reminders before and after the due time, through the core's timer engine: fired exactly
once each, paging the author, the IC and the Engineering Manager, and stopped by publishing."""

from datetime import timedelta

import pytest
import time_machine

from comms.services import update_post
from incidents.models import Deadline, Page
from incidents.services.timers import deadlines_fire_due
from incidents.states import TimelineKind
from pir import services
from pir.deadlines import REMINDERS
from tests.factories import ServiceFactory, TeamFactory, UserFactory
from tests.pir.conftest import fill

pytestmark = pytest.mark.django_db


@pytest.fixture
def pir_with_manager(resolved):
    team = TeamFactory(slug="edge")
    manager = UserFactory(rank="engineering_manager", team=team, username="em-edge")
    author = UserFactory(rank="senior_engineer", team=team, username="author")
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander"], username="ic1")
    incident, _ = resolved("P1", ic=ic, services=[ServiceFactory(slug="gw", team=team)])
    # What the resolution owes besides the review (comms' deadlines), posted: only the
    # review's reminders are left to fire.
    with time_machine.travel(incident.resolved_at + timedelta(seconds=1), tick=False):
        for channel in ("status_page", "internal"):
            update_post(actor=ic, incident_id=incident.pk, channel=channel, template="resolved")
    pir = incident.pir
    services.pir_update(actor=ic, pir_id=pir.pk, author=author)
    return pir, ic, manager, author


def test_reminders_are_planned_around_the_due_time(pir_with_manager):
    pir, *_ = pir_with_manager
    planned = {d.key: d for d in Deadline.objects.filter(incident=pir.incident, kind="pir")}
    assert set(planned) == {f"pir:{stage}" for stage, _o, _w in REMINDERS}
    for stage, offset, _words in REMINDERS:
        assert planned[f"pir:{stage}"].due_at == pir.due_at + offset
        assert planned[f"pir:{stage}"].status == "pending"


def test_each_reminder_pages_author_ic_and_manager_once(pir_with_manager):
    pir, ic, manager, author = pir_with_manager
    before = pir.due_at + REMINDERS[0][1]
    with time_machine.travel(before + timedelta(seconds=1), tick=False):
        assert deadlines_fire_due() == 2  # and the channel's closure, 24 h after resolution
        assert deadlines_fire_due() == 0  # exactly once
    event = pir.incident.timeline.get(kind=TimelineKind.PIR_REMINDER)
    assert "due in 24 hours" in event.text
    pages = Page.objects.filter(incident=pir.incident, rule_key="pir:before")
    assert {p.recipient for p in pages} == {author, ic, manager}
    assert set(event.data["pages"]) == {p.pk for p in pages if p.status == "pending"}
    with time_machine.travel(pir.due_at + timedelta(days=2), tick=False):
        assert deadlines_fire_due() == 2  # due and overdue
    assert pir.incident.timeline.filter(kind=TimelineKind.PIR_REMINDER).count() == 3


def test_publishing_stops_the_reminders(pir_with_manager):
    pir, ic, _manager, _author = pir_with_manager
    fill(pir)
    services.pir_transition(actor=ic, pir_id=pir.pk, to="in_review")
    services.pir_transition(actor=ic, pir_id=pir.pk, to="published")
    statuses = set(
        Deadline.objects.filter(incident=pir.incident, kind="pir").values_list("status", flat=True)
    )
    assert statuses == {"cancelled"}
    with time_machine.travel(pir.due_at + timedelta(days=3), tick=False):
        assert deadlines_fire_due() == 1  # the channel's closure (Appendix A), no reminder
    assert not pir.incident.timeline.filter(kind=TimelineKind.PIR_REMINDER).exists()


def test_a_reminder_due_after_publishing_in_the_same_sweep_is_cancelled(pir_with_manager):
    """Belt and braces: a firer that finds the review published cancels instead of paging."""
    pir, ic, _manager, _author = pir_with_manager
    fill(pir)
    services.pir_transition(actor=ic, pir_id=pir.pk, to="in_review")
    services.pir_transition(actor=ic, pir_id=pir.pk, to="published")
    Deadline.objects.filter(incident=pir.incident, key="pir:due").update(status="pending")
    with time_machine.travel(pir.due_at + timedelta(seconds=1), tick=False):
        assert deadlines_fire_due() == 1  # the channel's closure (Appendix A), no reminder
    assert Deadline.objects.get(incident=pir.incident, key="pir:due").status == "cancelled"
    assert not Page.objects.filter(rule_key="pir:due").exists()
