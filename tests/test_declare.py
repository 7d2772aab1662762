"""Declaring and acknowledging an incident (procedures 4.2, 4.3, 6.1, Appendix A, 7.4) through
the services: milestones, the time rules, the channel and bridge names, the checklists laid
out and auto-ticked, and the acknowledgement."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.exceptions import PermissionDenied

from incidents import services
from incidents.errors import RuleViolation
from incidents.models import ChecklistItem, Incident, TimelineEvent
from incidents.policy import AUTO_TICKS
from incidents.selectors import policy_settings
from incidents.states import Checklist, TimelineKind
from tests.factories import declare

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANNEL = re.compile(r"^#inc-(\d{8})-([a-z0-9-]+)$")

# Procedures 4.3, Appendix A (with its phases) and 7.4, word for word and in order.
TRIAGE = [
    "Alert acknowledged",
    "Issue verified (not false positive)",
    "Severity assessed",
    "Incident declared (if P1/P2)",
    "IC identified",
    "Communication channel established",
    "Initial status page update (if needed)",
]
IC_CHECKLIST = [
    ("First 5 minutes", "Acknowledge alert"),
    ("First 5 minutes", "Verify incident"),
    ("First 5 minutes", "Assess severity"),
    ("First 5 minutes", "Declare incident"),
    ("First 5 minutes", "Establish communication channel"),
    ("First 15 minutes", "Assign roles (Tech Lead, Comms, Scribe)"),
    ("First 15 minutes", "Update status page"),
    ("First 15 minutes", "Begin investigation"),
    ("First 15 minutes", "Escalate if needed"),
    ("Ongoing", "Maintain communication cadence"),
    ("Ongoing", "Track timeline"),
    ("Ongoing", "Make go/no-go decisions"),
    ("Ongoing", "Manage resources"),
    ("Resolution", "Verify stability (15+ minutes)"),
    ("Resolution", "Update status page - resolved"),
    ("Resolution", "Send internal summary"),
    ("Resolution", "Schedule PIR (if needed)"),
    ("Resolution", "Close incident channel after 24h"),
]
RESOLUTION = [
    "Root cause addressed (or mitigated with tracking ticket)",
    "Error rates returned to baseline",
    "Latency returned to baseline",
    "No ongoing customer impact",
    "Monitoring confirms stability (15+ minutes)",
    "IC declares resolved",
]


def counts():
    return (Incident.objects.count(), ChecklistItem.objects.count(), TimelineEvent.objects.count())


def items(incident, checklist):
    return ChecklistItem.objects.filter(incident=incident, checklist=checklist).order_by("position")


# --- milestones and the time rules -------------------------------------------------------------
def test_declaration_is_now_and_detection_defaults_to_now(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user, severity="P2", title="Checkout latency")
    incident.refresh_from_db()
    assert incident.declared_at == T0
    assert incident.detected_at == T0
    assert incident.started_at is None
    assert incident.declared_by == ic_user
    assert incident.status == "investigating"
    assert incident.acknowledged_at is None
    assert (incident.identified_at, incident.mitigated_at, incident.resolved_at) == (None,) * 3
    [event] = incident.timeline.all()
    assert event.kind == TimelineKind.DECLARED
    assert (event.occurred_at, event.actor) == (T0, ic_user)
    assert event.data["severity"] == "P2"
    assert event.data["channel_name"] == incident.channel_name


def test_past_detection_and_start_are_kept(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    started = T0 - timedelta(hours=3)
    detected = T0 - timedelta(minutes=40)
    incident = declare(actor=ic_user, started_at=started, detected_at=detected)
    incident.refresh_from_db()
    assert incident.started_at == started
    assert incident.detected_at == detected
    assert incident.declared_at == T0


def test_start_may_equal_detection(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    moment = T0 - timedelta(minutes=5)
    incident = declare(actor=ic_user, started_at=moment, detected_at=moment)
    assert incident.ttd_seconds == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"detected_at": T0 + timedelta(minutes=1)}, "detected_at"),
        ({"detected_at": T0 + timedelta(days=3)}, "detected_at"),
        ({"started_at": T0 + timedelta(minutes=1)}, "started_at"),
        (
            {"started_at": T0 + timedelta(minutes=1), "detected_at": T0 - timedelta(hours=1)},
            "started_at",
        ),
        (
            {"started_at": T0 - timedelta(minutes=10), "detected_at": T0 - timedelta(minutes=20)},
            "started_at",
        ),
        (
            {"started_at": T0 - timedelta(seconds=1), "detected_at": T0 - timedelta(seconds=2)},
            "started_at",
        ),
    ],
)
def test_impossible_times_are_refused_and_nothing_is_created(fields, field, ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    before = counts()
    with pytest.raises(RuleViolation) as violation:
        declare(actor=ic_user, **fields)
    assert violation.value.extra["field"] == field
    assert field in violation.value.detail
    assert counts() == before


def test_viewers_cannot_declare(viewer):
    before = counts()
    with pytest.raises(PermissionDenied):
        declare(actor=viewer)
    assert counts() == before


def test_unknown_severity_is_refused(ic_user):
    before = counts()
    with pytest.raises(RuleViolation) as violation:
        declare(actor=ic_user, severity="P5")
    assert violation.value.extra["field"] == "severity"
    assert counts() == before


# --- channel and bridge (6.1) ---------------------------------------------------------------------
def test_channel_is_named_from_the_detection_date_and_title(ic_user, time_machine):
    time_machine.move_to(datetime(2026, 2, 1, 0, 10, tzinfo=UTC), tick=False)
    incident = declare(
        actor=ic_user,
        title="API Gateway returning 502s",
        detected_at=datetime(2026, 1, 31, 23, 50, tzinfo=UTC),
    )
    assert incident.channel_name == "#inc-20260131-api-gateway-returning-502s"


def test_channel_date_is_the_utc_date_of_detection(ic_user, time_machine):
    time_machine.move_to(datetime(2026, 3, 2, 6, 0, tzinfo=UTC), tick=False)
    new_york = timezone(timedelta(hours=-5))
    # 23:30 on 1 March in New York is 04:30 on 2 March UTC.
    incident = declare(
        actor=ic_user,
        title="Login failures",
        detected_at=datetime(2026, 3, 1, 23, 30, tzinfo=new_york),
    )
    assert incident.channel_name == "#inc-20260302-login-failures"


def test_same_title_same_day_gets_numbered_suffixes(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    names = [declare(actor=ic_user, title="Inference queue stuck").channel_name for _ in range(3)]
    assert names == [
        "#inc-20260302-inference-queue-stuck",
        "#inc-20260302-inference-queue-stuck-2",
        "#inc-20260302-inference-queue-stuck-3",
    ]
    time_machine.move_to(T0 + timedelta(days=1), tick=False)
    assert (
        declare(actor=ic_user, title="Inference queue stuck").channel_name
        == "#inc-20260303-inference-queue-stuck"
    )


def test_a_storm_of_one_title_takes_the_next_free_name_in_a_couple_of_queries(
    ic_user, time_machine
):
    """An alert storm can declare thousands of incidents with one title in a day: the next
    name is found in one query per 200 names taken, not one per name (nor a limit of 999)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.rules import channel_name_for

    time_machine.move_to(T0, tick=False)
    first = declare(actor=ic_user, title="Inference queue stuck")
    taken = [channel_name_for(T0, first.title, n) for n in range(2, 1202)]
    Incident.objects.bulk_create(
        [
            Incident(title=first.title, detected_at=T0, declared_at=T0, channel_name=name)
            for name in taken
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        incident = declare(actor=ic_user, title="Inference queue stuck")
    assert incident.channel_name == "#inc-20260302-inference-queue-stuck-1202"
    probes = [q for q in queries.captured_queries if '"channel_name" IN' in q["sql"]]
    assert len(probes) == 1 + 7  # the plain name, then 1,201 taken / 200 a query


LONG_TITLE = (
    "Encryption service rejecting every key rotation request from the training pipeline "
    "in all three regions after the certificate authority bundle was replaced"
)


@pytest.mark.parametrize(
    "title",
    [
        "!!!",
        "¿¡?! — … ***",
        "数据库故障",
        "🔥🔥🔥",
        "Ünïcödé Çhåracters in Authentication",
        "___",
        "  spaced   out   title  ",
        "UPPER_case and snake_case",
        "a" * 200,
        LONG_TITLE,
    ],
)
def test_any_title_gives_a_valid_unique_channel_name(title, ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    first = declare(actor=ic_user, title=title).channel_name
    second = declare(actor=ic_user, title=title).channel_name
    for name in (first, second):
        match = CHANNEL.match(name)
        assert match, name
        assert match.group(1) == "20260302"
        assert len(name.removeprefix("#")) <= 80
        assert not match.group(2).endswith("-")
        assert not match.group(2).startswith("-")
    assert first != second
    assert second.endswith("-2")


def test_long_title_is_cut_at_a_word(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    name = declare(actor=ic_user, title=LONG_TITLE).channel_name
    assert len(name) - 1 <= 80
    desc = CHANNEL.match(name).group(2)
    words = LONG_TITLE.lower().split()
    assert desc.split("-") == words[: len(desc.split("-"))]


def test_bridge_url_is_the_policy_bridge_plus_the_channel(ic_user, sre_lead, time_machine):
    time_machine.move_to(T0, tick=False)
    base = policy_settings().bridge_base_url
    assert base == "https://meet.tensafe.io/incident"
    incident = declare(actor=ic_user, title="Payments failing")
    assert incident.bridge_url == "https://meet.tensafe.io/incident/inc-20260302-payments-failing"

    services.policy_object_update(
        actor=sre_lead,
        obj=policy_settings(),
        values={"bridge_base_url": "https://bridge.example/r/"},
    )
    incident = declare(actor=ic_user, title="Payments failing")
    assert incident.bridge_url == "https://bridge.example/r/inc-20260302-payments-failing-2"


# --- checklists -----------------------------------------------------------------------------------
def test_the_three_checklists_hold_the_procedures_items_in_order(ic_user):
    incident = declare(actor=ic_user)
    assert list(items(incident, Checklist.TRIAGE).values_list("text", flat=True)) == TRIAGE
    assert list(items(incident, Checklist.IC).values_list("phase", "text")) == IC_CHECKLIST
    assert list(items(incident, Checklist.RESOLUTION).values_list("text", flat=True)) == RESOLUTION
    assert ChecklistItem.objects.filter(incident=incident).count() == 7 + 18 + 6


def test_declaration_ticks_what_auto_ticks_says_and_nothing_else(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user)
    wanted = {(str(checklist), key) for checklist, key in AUTO_TICKS["declared"]}
    assert wanted  # the policy names some
    done = ChecklistItem.objects.filter(incident=incident, done=True)
    assert {(i.checklist, i.key) for i in done} == wanted
    assert {(i.done_at, i.done_by_id) for i in done} == {(T0, ic_user.pk)}
    assert not ChecklistItem.objects.filter(
        incident=incident, done=False, done_at__isnull=False
    ).exists()
    assert sorted(incident.timeline.get().data["ticked"]) == sorted(i.text for i in done)
    # Spelled out, so a change to AUTO_TICKS is a visible decision.
    assert {i.text for i in done} == {
        "Severity assessed",
        "Incident declared (if P1/P2)",
        "Communication channel established",
        "Assess severity",
        "Declare incident",
        "Establish communication channel",
    }


# --- acknowledgement (4.2 step 1) -----------------------------------------------------------------
def test_acknowledge_once(ic_user, responder, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user, detected_at=T0 - timedelta(minutes=2))
    time_machine.move_to(T0 + timedelta(minutes=3), tick=False)

    services.incident_acknowledge(actor=responder, incident_id=incident.pk)

    incident.refresh_from_db()
    assert incident.acknowledged_at == T0 + timedelta(minutes=3)
    assert incident.acknowledged_by == responder
    ticked = ChecklistItem.objects.filter(
        incident=incident, key__in=["alert_acknowledged", "acknowledge_alert"]
    )
    assert {(i.checklist, i.text, i.done, i.done_at, i.done_by) for i in ticked} == {
        (Checklist.TRIAGE, "Alert acknowledged", True, T0 + timedelta(minutes=3), responder),
        (Checklist.IC, "Acknowledge alert", True, T0 + timedelta(minutes=3), responder),
    }
    [event] = incident.timeline.filter(kind=TimelineKind.ACKNOWLEDGED)
    assert event.actor == responder
    assert event.occurred_at == T0 + timedelta(minutes=3)
    assert event.data["seconds_after_detection"] == 5 * 60
    assert sorted(event.data["ticked"]) == ["Acknowledge alert", "Alert acknowledged"]

    # A second acknowledgement, later and by someone else, changes nothing.
    time_machine.move_to(T0 + timedelta(minutes=9), tick=False)
    events_before = incident.timeline.count()
    again = services.incident_acknowledge(actor=ic_user, incident_id=incident.pk)
    assert again.acknowledged_at == T0 + timedelta(minutes=3)
    incident.refresh_from_db()
    assert incident.acknowledged_at == T0 + timedelta(minutes=3)
    assert incident.acknowledged_by == responder
    assert incident.timeline.count() == events_before
    assert incident.timeline.filter(kind=TimelineKind.ACKNOWLEDGED).count() == 1
    assert {i.done_by for i in ticked.all()} == {responder}


def test_viewers_cannot_acknowledge(ic_user, viewer):
    incident = declare(actor=ic_user)
    with pytest.raises(PermissionDenied):
        services.incident_acknowledge(actor=viewer, incident_id=incident.pk)
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert not incident.timeline.filter(kind=TimelineKind.ACKNOWLEDGED).exists()
