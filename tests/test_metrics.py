"""Time to detection, mitigation and resolution (procedures 1.3), in seconds, as the lifecycle
services leave them: TTD = detected - started, TTM = mitigated - detected, TTR = resolved -
detected; None until both ends are known."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents import services
from incidents.models import ChecklistItem
from incidents.policy import RESOLVE_ACT_KEY
from incidents.states import Checklist, Role
from tests.factories import declare

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = 60


@pytest.fixture
def clock(time_machine):
    """clock(minutes) puts the frozen clock at T0 + minutes."""

    def at(minutes):
        time_machine.move_to(T0 + timedelta(minutes=minutes), tick=False)

    at(0)
    return at


def move(incident, actor, to, reason=""):
    services.incident_transition(actor=actor, incident_id=incident.pk, to=to, reason=reason)
    incident.refresh_from_db()


def metrics(incident):
    incident.refresh_from_db()
    return incident.ttd_seconds, incident.ttm_seconds, incident.ttr_seconds


def ready_to_resolve(incident, ic):
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    for item in ChecklistItem.objects.filter(incident=incident, checklist=Checklist.RESOLUTION):
        if item.key != RESOLVE_ACT_KEY:
            services.incident_checklist_set(
                actor=ic, incident_id=incident.pk, item_id=item.pk, done=True
            )


def test_metrics_through_a_whole_incident(ic_user, clock):
    incident = declare(
        actor=ic_user,
        started_at=T0 - timedelta(minutes=10),
        detected_at=T0 - timedelta(minutes=2),
    )
    assert metrics(incident) == (8 * MIN, None, None)

    clock(5)
    move(incident, ic_user, "identified")
    assert metrics(incident) == (8 * MIN, None, None)

    clock(20)
    move(incident, ic_user, "monitoring")
    assert metrics(incident) == (8 * MIN, 22 * MIN, None)

    ready_to_resolve(incident, ic_user)
    clock(40)
    move(incident, ic_user, "resolved")
    assert metrics(incident) == (8 * MIN, 22 * MIN, 42 * MIN)


def test_unknown_start_leaves_ttd_unknown(ic_user, clock):
    incident = declare(actor=ic_user, detected_at=T0 - timedelta(minutes=3))
    assert metrics(incident) == (None, None, None)
    clock(1)
    move(incident, ic_user, "identified")
    clock(7)
    move(incident, ic_user, "monitoring")
    assert metrics(incident) == (None, 10 * MIN, None)


def test_detection_defaults_to_declaration_so_ttd_counts_to_now(ic_user, clock):
    incident = declare(actor=ic_user, started_at=T0 - timedelta(hours=1, seconds=30))
    assert metrics(incident) == (3600 + 30, None, None)


def test_seconds_are_whole_seconds(ic_user, clock):
    incident = declare(
        actor=ic_user,
        started_at=T0 - timedelta(seconds=90, milliseconds=400),
        detected_at=T0 - timedelta(seconds=1),
    )
    assert incident.ttd_seconds == 89
    assert isinstance(incident.ttd_seconds, int)


@pytest.mark.parametrize("back_to", ["identified", "investigating"])
def test_ttm_measures_to_the_last_mitigation(back_to, ic_user, clock):
    incident = declare(actor=ic_user, detected_at=T0)
    move(incident, ic_user, "identified")
    clock(10)
    move(incident, ic_user, "monitoring")
    assert metrics(incident)[1] == 10 * MIN

    clock(15)
    move(incident, ic_user, back_to, reason="the fix did not hold")
    assert metrics(incident)[1] is None  # not mitigated any more

    if back_to == "investigating":
        clock(25)
        move(incident, ic_user, "identified")
    clock(30)
    move(incident, ic_user, "monitoring")
    assert metrics(incident)[1] == 30 * MIN

    ready_to_resolve(incident, ic_user)
    clock(50)
    move(incident, ic_user, "resolved")
    assert metrics(incident) == (None, 30 * MIN, 50 * MIN)


def test_reopening_forgets_ttr_until_resolved_again(ic_user, clock):
    incident = declare(actor=ic_user, started_at=T0 - timedelta(minutes=1))
    move(incident, ic_user, "identified")
    clock(5)
    move(incident, ic_user, "monitoring")
    ready_to_resolve(incident, ic_user)
    clock(20)
    move(incident, ic_user, "resolved")
    assert metrics(incident) == (MIN, 5 * MIN, 20 * MIN)

    clock(60)
    move(incident, ic_user, "investigating", reason="errors are back")
    assert metrics(incident) == (MIN, None, None)

    clock(70)
    move(incident, ic_user, "identified")
    clock(80)
    move(incident, ic_user, "monitoring")
    ready_to_resolve(incident, ic_user)
    clock(95)
    move(incident, ic_user, "resolved")
    assert metrics(incident) == (MIN, 80 * MIN, 95 * MIN)
