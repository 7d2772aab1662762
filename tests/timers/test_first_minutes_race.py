"""The triage reminder (4.2) against the responders ticking the triage checklist, on the real
PostgreSQL: the sweeper claims due deadlines and their incidents with SKIP LOCKED, a tick holds
the incident's row lock while it ticks and re-plans, and the firer looks at the items under
that lock. So the reminder never fires once every item is ticked: either it fires first and
names the items still unticked then, or the last tick cancels it."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from incidents import services
from incidents.models import ChecklistItem, Deadline, Incident, TimelineEvent
from incidents.services.timers import deadlines_fire_due
from incidents.states import Checklist, Role, TimelineKind
from tests.factories import UserFactory, declare

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LAST_TWO = ("issue_verified", "initial_status_page_update")


@pytest.fixture
def people(procedure_kinds):
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    responders = [UserFactory(rank="engineer", groups=["responder"]) for _ in LAST_TWO]
    for user in (ic, *responders):
        assert user.group_names  # loaded here, not raced for in the threads
    return ic, responders


def triage_due_now(ic) -> tuple[Incident, dict[str, ChecklistItem]]:
    """A P1 detected 6 minutes ago, acknowledged, with an IC: its triage window is over and two
    triage items are left."""
    incident = declare(actor=ic, detected_at=timezone.now() - timedelta(minutes=6))
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    left = ChecklistItem.objects.filter(incident=incident, checklist=Checklist.TRIAGE, done=False)
    assert sorted(left.values_list("key", flat=True)) == sorted(LAST_TWO)
    return incident, {item.key: item for item in left}


def window(incident) -> Deadline:
    return Deadline.objects.get(incident=incident, key="triage:window")


def in_thread(work) -> tuple[threading.Thread, list]:
    errors: list = []

    def run():
        try:
            work()
        except BaseException as exc:  # reported to the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_sweep_while_the_last_tick_holds_the_incident_skips_it_and_the_tick_cancels(people):
    """1. A responder's tick of the last item holds the incident's row lock.
    2. The sweeper runs meanwhile: it skips the locked incident and fires nothing, without
       waiting for it (the deadline stays pending).
    3. The tick commits; its re-plan cancelled the reminder.
    4. Later sweeps never fire it."""
    ic, responders = people
    incident, items = triage_due_now(ic)
    services.incident_checklist_set(
        actor=responders[0], incident_id=incident.pk, item_id=items[LAST_TWO[0]].pk, done=True
    )
    locked, swept = threading.Event(), threading.Event()

    def last_tick():
        with transaction.atomic():
            Incident.objects.select_for_update().get(pk=incident.pk)
            locked.set()
            assert swept.wait(timeout=30)
            services.incident_checklist_set(
                actor=responders[1],
                incident_id=incident.pk,
                item_id=items[LAST_TWO[1]].pk,
                done=True,
            )

    thread, errors = in_thread(last_tick)
    assert locked.wait(timeout=30)
    assert deadlines_fire_due() == 0  # skipped, not waited for
    assert window(incident).status == "pending"
    swept.set()
    thread.join(timeout=60)
    assert errors == []

    assert window(incident).status == "cancelled"
    deadlines_fire_due()  # what else was due (the declaration notice) fires now
    assert window(incident).status == "cancelled"
    assert not TimelineEvent.objects.filter(
        incident=incident, kind=TimelineKind.TRIAGE_REMINDER
    ).exists()


@pytest.mark.parametrize("round_", range(4))
def test_two_responders_ticking_while_the_reminder_fires(people, round_):
    """Two responders tick the last two items while a sweeper fires due deadlines, all at once.
    Whatever the order the row locks give them: at most one reminder; if it fired, it names
    exactly the items whose ticks came after it (timeline ids follow the lock order), so at
    least one; if it did not, the deadline is cancelled."""
    ic, responders = people
    incident, items = triage_due_now(ic)
    barrier = threading.Barrier(3)
    done = threading.Event()

    def ticker(i):
        def work():
            barrier.wait(timeout=30)
            services.incident_checklist_set(
                actor=responders[i],
                incident_id=incident.pk,
                item_id=items[LAST_TWO[i]].pk,
                done=True,
            )

        return work

    def sweeper():
        barrier.wait(timeout=30)
        while not done.is_set():
            deadlines_fire_due()

    threads = [in_thread(ticker(0)), in_thread(ticker(1))]
    sweeping = in_thread(sweeper)
    for thread, errors in threads:
        thread.join(timeout=60)
        assert errors == []
    done.set()
    sweeping[0].join(timeout=60)
    assert sweeping[1] == []
    deadlines_fire_due()  # one more, after everything

    reminders = list(
        TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.TRIAGE_REMINDER)
    )
    assert len(reminders) <= 1
    ticks = {
        e.data["key"]: e.pk
        for e in TimelineEvent.objects.filter(
            incident=incident, kind=TimelineKind.CHECKLIST_TICKED, data__key__in=LAST_TWO
        )
    }
    assert set(ticks) == set(LAST_TWO)
    if reminders:
        (reminder,) = reminders
        after = [items[key].text for key in LAST_TWO if ticks[key] > reminder.pk]
        assert after, "the reminder fired after every item was ticked"
        assert sorted(reminder.data["unticked"]) == sorted(after)
        assert window(incident).status == "fired"
    else:
        assert window(incident).status == "cancelled"
