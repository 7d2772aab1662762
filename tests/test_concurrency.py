"""Many identical requests at once, on the real PostgreSQL: the row lock in each service makes
exactly one of them act, and the others see what it did."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django_fsm import ConcurrentTransition

from incidents import services
from incidents.errors import TransitionRefused
from incidents.models import (
    EscalationContact,
    EscalationRule,
    Incident,
    PolicySettings,
    SeverityPolicy,
    TimelineEvent,
)
from incidents.policy import (
    ESCALATION_CONTACT_DEFAULTS,
    ESCALATION_RULE_DEFAULTS,
    SEVERITY_DEFAULTS,
)
from incidents.selectors import policy_settings
from incidents.states import TimelineKind
from tests.factories import UserFactory, declare

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 24


def run_at_once(count, work):
    """Start `count` threads that each call work(i) as soon as all are ready. Returns
    (results, errors), one entry per thread: its return value or the exception it raised."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, [None] * count

    def thread(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # reported to the test, not swallowed
            errors[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread is still running"
    return results, errors


@pytest.fixture
def commander():
    user = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    assert user.group_names  # loaded once here, not raced for in the threads
    return user


def test_parallel_identical_transitions_succeed_exactly_once(commander):
    incident = declare(actor=commander)

    results, errors = run_at_once(
        THREADS,
        lambda i: services.incident_transition(
            actor=commander, incident_id=incident.pk, to="identified"
        ),
    )

    succeeded = [r for r in results if r is not None]
    assert len(succeeded) == 1
    refused = [e for e in errors if e is not None]
    assert len(refused) == THREADS - 1
    unexpected = [e for e in refused if not isinstance(e, TransitionRefused | ConcurrentTransition)]
    assert unexpected == []
    for error in refused:
        if isinstance(error, TransitionRefused):
            assert error.extra["allowed"] == ["monitoring"]
    incident.refresh_from_db()
    assert incident.status == "identified"
    assert incident.identified_at == succeeded[0].identified_at
    events = TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.STATUS_CHANGED)
    assert events.count() == 1
    assert events.get().data["to"] == "identified"


def test_parallel_acknowledgements_record_one(commander):
    incident = declare(actor=commander)
    responders = [UserFactory(rank="engineer", groups=["responder"]) for _ in range(THREADS)]
    for responder in responders:
        assert responder.group_names

    results, errors = run_at_once(
        THREADS,
        lambda i: services.incident_acknowledge(actor=responders[i], incident_id=incident.pk),
    )

    assert errors == [None] * THREADS  # acknowledging twice is not an error
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    assert {r.acknowledged_at for r in results} == {incident.acknowledged_at}
    [event] = TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.ACKNOWLEDGED)
    assert event.actor == incident.acknowledged_by
    assert event.occurred_at == incident.acknowledged_at
    ticked = incident.checklist.filter(key__in=["alert_acknowledged", "acknowledge_alert"])
    assert {(i.done, i.done_by_id) for i in ticked} == {(True, incident.acknowledged_by_id)}


def test_parallel_declarations_with_one_title_get_distinct_channels(commander):
    count = 20
    policy_settings()  # seeded once beforehand: this test is about naming channels
    detected = datetime.now(UTC).replace(microsecond=0)

    results, errors = run_at_once(
        count,
        lambda i: declare(actor=commander, title="Storage cluster degraded", detected_at=detected),
    )

    assert errors == [None] * count
    names = [incident.channel_name for incident in results]
    assert len(set(names)) == count
    day = f"{detected:%Y%m%d}"
    base = f"#inc-{day}-storage-cluster-degraded"
    assert sorted(names) == sorted([base] + [f"{base}-{n}" for n in range(2, count + 1)])
    assert Incident.objects.filter(title="Storage cluster degraded").count() == count
    assert TimelineEvent.objects.filter(kind=TimelineKind.DECLARED).count() == count


def test_parallel_first_declarations_seed_the_policy_once(commander):
    # A database nothing has read the policy of yet (the tests' own is set up with it).
    for model in (PolicySettings, SeverityPolicy, EscalationRule, EscalationContact):
        model.objects.all().delete()
    count = 12

    _results, errors = run_at_once(
        count, lambda i: declare(actor=commander, title=f"First incident {i}")
    )

    assert errors == [None] * count
    assert PolicySettings.objects.count() == 1
    assert SeverityPolicy.objects.count() == len(SEVERITY_DEFAULTS)
    assert EscalationRule.objects.count() == len(ESCALATION_RULE_DEFAULTS)
    assert EscalationContact.objects.count() == len(ESCALATION_CONTACT_DEFAULTS)
