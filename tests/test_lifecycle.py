"""The incident lifecycle (procedures 6.1 states, 7.4 resolution criteria) through the services:
every ordered pair of statuses, the milestones each transition sets or clears, the resolve
preconditions, who may move an incident, and the one timeline event each move writes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied

from incidents import services
from incidents.errors import RuleViolation, TransitionRefused
from incidents.models import AuditEvent, ChecklistItem, Incident, TimelineEvent
from incidents.policy import RESOLVE_ACT_KEY
from incidents.rules import resolution_blockers
from incidents.selectors import incident_detail_for_user, policy_settings
from incidents.states import AuditAction, Checklist, Role, Status, TimelineKind
from tests.factories import UserFactory, declare, put_on_call

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)  # procedures 7.4 "Monitoring confirms stability (15+ minutes)"

INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED = (
    Status.INVESTIGATING.value,
    Status.IDENTIFIED.value,
    Status.MONITORING.value,
    Status.RESOLVED.value,
)
STATUSES = [INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED]
# The lifecycle as the procedures describe it (6.1 state names, 7 resolution, reopening).
ALLOWED = {
    INVESTIGATING: {IDENTIFIED},
    IDENTIFIED: {MONITORING},
    MONITORING: {IDENTIFIED, INVESTIGATING, RESOLVED},
    RESOLVED: {INVESTIGATING},
}
ALLOWED_PAIRS = [(s, t) for s in STATUSES for t in STATUSES if t in ALLOWED[s]]
REFUSED_PAIRS = [(s, t) for s in STATUSES for t in STATUSES if t not in ALLOWED[s]]
IC_ONLY_PAIRS = [(MONITORING, RESOLVED), (RESOLVED, INVESTIGATING)]
PATH = {
    INVESTIGATING: [],
    IDENTIFIED: [IDENTIFIED],
    MONITORING: [IDENTIFIED, MONITORING],
    RESOLVED: [IDENTIFIED, MONITORING, RESOLVED],
}


def move(incident, actor, to, reason=""):
    return services.incident_transition(actor=actor, incident_id=incident.pk, to=to, reason=reason)


def assign_ic(incident, user, actor=None):
    services.incident_assign_role(
        actor=actor or user, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=user
    )


def tick(incident, actor, *, except_keys=()):
    for item in ChecklistItem.objects.filter(incident=incident, checklist=Checklist.RESOLUTION):
        if item.key not in except_keys and item.key != RESOLVE_ACT_KEY:
            services.incident_checklist_set(
                actor=actor, incident_id=incident.pk, item_id=item.pk, done=True
            )


def incident_in(status, ic, time_machine, severity="P1"):
    """An incident in `status`, `ic` its IC, on a frozen clock: declared at T0, each step five
    minutes after the last. In Monitoring it is ready to resolve (criteria ticked, clock moved
    on by the stability window), so every exit from Monitoring is open."""
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic, severity=severity)
    assign_ic(incident, ic)
    for target in PATH[status]:
        if target == RESOLVED:
            continue
        time_machine.shift(timedelta(minutes=5))
        move(incident, ic, target)
    if status in (MONITORING, RESOLVED):
        tick(incident, ic)
        time_machine.shift(WINDOW)
    if status == RESOLVED:
        move(incident, ic, RESOLVED)
    incident.refresh_from_db()
    assert incident.status == status
    return incident


def state_of(incident):
    """Everything a refused transition must leave alone."""
    incident = Incident.objects.get(pk=incident.pk)
    return {
        "status": incident.status,
        "identified_at": incident.identified_at,
        "mitigated_at": incident.mitigated_at,
        "resolved_at": incident.resolved_at,
        "updated_at": incident.updated_at,
        "timeline": list(TimelineEvent.objects.filter(incident=incident).values_list("id", "kind")),
        "checklist": list(
            ChecklistItem.objects.filter(incident=incident)
            .order_by("id")
            .values_list("id", "done", "done_at", "done_by")
        ),
        "roles": list(incident.roles.values_list("id", "relieved_at")),
    }


def new_events(incident, before):
    seen = {event_id for event_id, _ in before["timeline"]}
    return list(TimelineEvent.objects.filter(incident=incident).exclude(id__in=seen))


def new_lifecycle_events(incident, before):
    """The transition's own events; apps built on the core may add theirs (a PIR on resolve)."""
    lifecycle = {TimelineKind.STATUS_CHANGED, TimelineKind.REOPENED}
    return [e for e in new_events(incident, before) if e.kind in lifecycle]


# --- the full 4x4 matrix -------------------------------------------------------------------------
def test_matrix_covers_every_ordered_pair():
    assert len(ALLOWED_PAIRS) == 6
    assert len(REFUSED_PAIRS) == 10
    assert set(ALLOWED_PAIRS) | set(REFUSED_PAIRS) == {(s, t) for s in STATUSES for t in STATUSES}


@pytest.mark.parametrize(("source", "target"), ALLOWED_PAIRS)
def test_allowed_transition_moves_and_writes_one_timeline_event(
    source, target, ic_user, time_machine
):
    incident = incident_in(source, ic_user, time_machine)
    before = state_of(incident)
    time_machine.shift(timedelta(minutes=1))
    now = datetime.now(UTC)

    result = move(incident, ic_user, target, reason="moving on")

    assert result.status == target
    incident.refresh_from_db()
    assert incident.status == target
    [event] = new_lifecycle_events(incident, before)
    reopening = (source, target) == (RESOLVED, INVESTIGATING)
    assert event.kind == (TimelineKind.REOPENED if reopening else TimelineKind.STATUS_CHANGED)
    assert event.data["from"] == source
    assert event.data["to"] == target
    assert event.data["reason"] == "moving on"
    assert event.actor == ic_user
    assert event.occurred_at == now
    assert event.recorded_at == now


@pytest.mark.parametrize(("source", "target"), REFUSED_PAIRS)
def test_refused_transition_raises_lists_allowed_and_changes_nothing(
    source, target, ic_user, time_machine
):
    incident = incident_in(source, ic_user, time_machine)
    before = state_of(incident)
    time_machine.shift(timedelta(minutes=1))

    with pytest.raises(TransitionRefused) as refused:
        move(incident, ic_user, target, reason="try it")

    assert sorted(refused.value.extra["allowed"]) == sorted(ALLOWED[source])
    assert source in refused.value.detail
    assert target in refused.value.detail
    assert state_of(incident) == before


def test_refusal_lists_only_what_the_user_may_do(ic_user, responder, time_machine):
    incident = incident_in(MONITORING, ic_user, time_machine)
    with pytest.raises(TransitionRefused) as refused:
        move(incident, responder, MONITORING)
    # A responder who is not the IC may not resolve, so resolving is not offered to them.
    assert sorted(refused.value.extra["allowed"]) == [IDENTIFIED, INVESTIGATING]


# --- milestones -----------------------------------------------------------------------------------
def test_identify_sets_identified_at(ic_user, time_machine):
    incident = incident_in(INVESTIGATING, ic_user, time_machine)
    time_machine.shift(timedelta(minutes=7))
    move(incident, ic_user, IDENTIFIED)
    incident.refresh_from_db()
    assert incident.identified_at == T0 + timedelta(minutes=7)
    assert incident.mitigated_at is None
    assert incident.resolved_at is None


def test_mitigate_sets_mitigated_at(ic_user, time_machine):
    incident = incident_in(IDENTIFIED, ic_user, time_machine)
    identified_at = incident.identified_at
    time_machine.shift(timedelta(minutes=9))
    move(incident, ic_user, MONITORING)
    incident.refresh_from_db()
    assert incident.mitigated_at == T0 + timedelta(minutes=5 + 9)
    assert incident.identified_at == identified_at == T0 + timedelta(minutes=5)
    assert incident.resolved_at is None


def test_back_to_identified_clears_mitigated_at_and_keeps_identified_at(ic_user, time_machine):
    incident = incident_in(MONITORING, ic_user, time_machine)
    identified_at = incident.identified_at
    move(incident, ic_user, IDENTIFIED, reason="error rate is back")
    incident.refresh_from_db()
    assert incident.status == IDENTIFIED
    assert incident.mitigated_at is None
    assert incident.identified_at == identified_at is not None


def test_back_to_investigating_clears_mitigated_at_and_identified_at(ic_user, time_machine):
    incident = incident_in(MONITORING, ic_user, time_machine)
    move(incident, ic_user, INVESTIGATING, reason="wrong cause")
    incident.refresh_from_db()
    assert incident.status == INVESTIGATING
    assert incident.mitigated_at is None
    assert incident.identified_at is None


def test_resolve_sets_resolved_at_and_ticks_ic_declares_resolved(ic_user, time_machine):
    incident = incident_in(MONITORING, ic_user, time_machine)
    act = ChecklistItem.objects.get(incident=incident, key=RESOLVE_ACT_KEY)
    assert not act.done
    now = datetime.now(UTC)
    move(incident, ic_user, RESOLVED)
    incident.refresh_from_db()
    assert incident.resolved_at == now
    act.refresh_from_db()
    assert (act.done, act.done_at, act.done_by) == (True, now, ic_user)
    event = incident.timeline.get(kind=TimelineKind.STATUS_CHANGED, data__to=RESOLVED)
    assert event.data["ticked"] == ["IC declares resolved"]


def test_reopen_clears_milestones_and_resets_resolution_checklist(ic_user, time_machine):
    incident = incident_in(RESOLVED, ic_user, time_machine)
    other_done = set(
        ChecklistItem.objects.filter(incident=incident, done=True)
        .exclude(checklist=Checklist.RESOLUTION)
        .values_list("id", flat=True)
    )
    assert other_done  # declaration ticked some triage / IC items
    time_machine.shift(timedelta(hours=2))

    move(incident, ic_user, INVESTIGATING, reason="errors are back in eu-west")

    incident.refresh_from_db()
    assert incident.status == INVESTIGATING
    assert incident.resolved_at is None
    assert incident.mitigated_at is None
    assert incident.identified_at is None
    resolution = ChecklistItem.objects.filter(incident=incident, checklist=Checklist.RESOLUTION)
    assert resolution.count() == 6
    assert set(resolution.values_list("done", "done_at", "done_by")) == {(False, None, None)}
    # Only the resolution criteria start over; triage and IC items keep their ticks.
    assert other_done <= set(
        ChecklistItem.objects.filter(incident=incident, done=True).values_list("id", flat=True)
    )
    event = incident.timeline.get(kind=TimelineKind.REOPENED)
    assert event.data["reason"] == "errors are back in eu-west"
    assert event.data["resolution_criteria_reset"] is True
    assert "errors are back in eu-west" in event.text


def test_reopened_incident_must_meet_the_criteria_again(ic_user, time_machine):
    incident = incident_in(RESOLVED, ic_user, time_machine)
    move(incident, ic_user, INVESTIGATING, reason="not fixed")
    move(incident, ic_user, IDENTIFIED)
    move(incident, ic_user, MONITORING)
    time_machine.shift(WINDOW)
    with pytest.raises(TransitionRefused) as refused:
        move(incident, ic_user, RESOLVED)
    assert len(refused.value.extra["missing"]) == 5  # the five criteria, unticked again


# --- resolve preconditions (7.4) ------------------------------------------------------------------
RESOLUTION_TEXTS = {
    "root_cause_addressed": "Root cause addressed (or mitigated with tracking ticket)",
    "error_rates_baseline": "Error rates returned to baseline",
    "latency_baseline": "Latency returned to baseline",
    "no_customer_impact": "No ongoing customer impact",
    "monitoring_stable": "Monitoring confirms stability (15+ minutes)",
}


def monitoring_since_t0(actor, time_machine):
    """Declared and moved to Monitoring at T0 exactly; nothing ticked, no IC."""
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=actor)
    move(incident, actor, IDENTIFIED)
    move(incident, actor, MONITORING)
    incident.refresh_from_db()
    assert incident.mitigated_at == T0
    return incident


def test_resolve_refusal_names_every_missing_thing(sre_lead, ic_user, time_machine):
    incident = monitoring_since_t0(sre_lead, time_machine)
    before = state_of(incident)

    # Nobody commands it, so nobody may resolve it (3.1, 7.4); what is missing is listed.
    with pytest.raises(PermissionDenied):
        move(incident, sre_lead, RESOLVED)
    detail = incident_detail_for_user(sre_lead, incident.pk)

    missing = detail.resolution_blockers
    assert RESOLVED not in detail.allowed_transitions
    assert len(missing) == 7
    for text in RESOLUTION_TEXTS.values():
        assert sum(text in entry for entry in missing) == 1, text
    assert not any(entry.endswith("IC declares resolved") for entry in missing)
    [window] = [entry for entry in missing if "stability window" in entry]
    assert "0 of the 15 minutes" in window
    [ic] = [entry for entry in missing if "Incident Commander" in entry]
    assert "no Incident Commander assigned" in ic
    assert sorted(detail.allowed_transitions) == [IDENTIFIED, INVESTIGATING]
    assert state_of(incident) == before

    # The IC, once there, is refused with the same list (409).
    assign_ic(incident, ic_user, actor=sre_lead)
    before = state_of(incident)
    with pytest.raises(TransitionRefused) as refused:
        move(incident, ic_user, RESOLVED)
    assert refused.value.extra["missing"] == missing[:-1]
    assert sorted(refused.value.extra["allowed"]) == [IDENTIFIED, INVESTIGATING]
    assert state_of(incident) == before


@pytest.mark.parametrize("key", sorted(RESOLUTION_TEXTS))
def test_resolve_refused_while_one_criterion_is_unticked(key, ic_user, time_machine):
    incident = monitoring_since_t0(ic_user, time_machine)
    assign_ic(incident, ic_user)
    tick(incident, ic_user, except_keys={key})
    time_machine.shift(WINDOW)

    with pytest.raises(TransitionRefused) as refused:
        move(incident, ic_user, RESOLVED)

    assert refused.value.extra["missing"] == [
        f"resolution criterion not ticked: {RESOLUTION_TEXTS[key]}"
    ]
    assert Incident.objects.get(pk=incident.pk).status == MONITORING


def test_ic_declares_resolved_item_is_not_a_precondition(ic_user, time_machine):
    incident = monitoring_since_t0(ic_user, time_machine)
    assign_ic(incident, ic_user)
    tick(incident, ic_user)
    assert not ChecklistItem.objects.get(incident=incident, key=RESOLVE_ACT_KEY).done
    time_machine.shift(WINDOW)
    assert move(incident, ic_user, RESOLVED).status == RESOLVED


def test_resolve_stability_window_boundary(ic_user, time_machine):
    incident = monitoring_since_t0(ic_user, time_machine)
    assign_ic(incident, ic_user)
    tick(incident, ic_user)

    time_machine.move_to(T0 + timedelta(minutes=14, seconds=59), tick=False)
    before = state_of(incident)
    with pytest.raises(TransitionRefused) as refused:
        move(incident, ic_user, RESOLVED)
    [blocker] = refused.value.extra["missing"]
    assert "stability window" in blocker
    assert "14 of the 15 minutes" in blocker
    assert RESOLVED not in refused.value.extra["allowed"]
    assert state_of(incident) == before

    time_machine.move_to(T0 + WINDOW, tick=False)
    move(incident, ic_user, RESOLVED)
    incident.refresh_from_db()
    assert incident.status == RESOLVED
    assert incident.resolved_at == T0 + WINDOW


def test_stability_window_restarts_when_the_fix_did_not_hold(ic_user, time_machine):
    incident = monitoring_since_t0(ic_user, time_machine)
    assign_ic(incident, ic_user)
    tick(incident, ic_user)
    time_machine.move_to(T0 + timedelta(minutes=10), tick=False)
    move(incident, ic_user, IDENTIFIED, reason="latency spiked again")
    time_machine.move_to(T0 + timedelta(minutes=12), tick=False)
    move(incident, ic_user, MONITORING)

    # 15 minutes after the first mitigation, but only 3 after the one in force.
    time_machine.move_to(T0 + WINDOW, tick=False)
    with pytest.raises(TransitionRefused) as refused:
        move(incident, ic_user, RESOLVED)
    assert ["3 of the 15 minutes" in m for m in refused.value.extra["missing"]] == [True]

    time_machine.move_to(T0 + timedelta(minutes=12) + WINDOW, tick=False)
    assert move(incident, ic_user, RESOLVED).status == RESOLVED


def test_resolve_refused_without_an_incident_commander(sre_lead, ic_user, time_machine):
    incident = monitoring_since_t0(sre_lead, time_machine)
    tick(incident, sre_lead)
    time_machine.shift(WINDOW)
    assert resolution_blockers(incident) == [
        "no Incident Commander assigned (the IC declares resolved)"
    ]
    with pytest.raises(PermissionDenied):
        move(incident, sre_lead, RESOLVED)

    # A relieved IC is no IC: they may not resolve it either.
    assign_ic(incident, ic_user, actor=sre_lead)
    services.incident_relieve_role(
        actor=sre_lead, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic_user
    )
    assert resolution_blockers(incident) == [
        "no Incident Commander assigned (the IC declares resolved)"
    ]
    with pytest.raises(PermissionDenied):
        move(incident, ic_user, RESOLVED)

    assign_ic(incident, ic_user, actor=sre_lead)
    assert move(incident, ic_user, RESOLVED).status == RESOLVED


@pytest.mark.parametrize(("minutes", "refused_at", "allowed_at"), [(30, 29, 30), (5, 4, 5)])
def test_stability_window_follows_the_policy(
    minutes, refused_at, allowed_at, ic_user, sre_lead, time_machine
):
    time_machine.move_to(T0 - timedelta(days=1), tick=False)
    services.policy_object_update(
        actor=sre_lead,
        obj=policy_settings(),
        values={"stability_window_minutes": minutes},
        reason="tuning",
    )
    assert policy_settings().stability_window_minutes == minutes
    incident = monitoring_since_t0(ic_user, time_machine)
    assign_ic(incident, ic_user)
    tick(incident, ic_user)

    time_machine.move_to(T0 + timedelta(minutes=refused_at, seconds=59), tick=False)
    with pytest.raises(TransitionRefused) as refused:
        move(incident, ic_user, RESOLVED)
    [blocker] = refused.value.extra["missing"]
    assert f"{refused_at} of the {minutes} minutes" in blocker

    time_machine.move_to(T0 + timedelta(minutes=allowed_at), tick=False)
    assert move(incident, ic_user, RESOLVED).status == RESOLVED


# --- reopen -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reopen_without_reason_is_a_rule_violation(reason, ic_user, time_machine):
    incident = incident_in(RESOLVED, ic_user, time_machine)
    before = state_of(incident)
    with pytest.raises(RuleViolation) as violation:
        move(incident, ic_user, INVESTIGATING, reason=reason)
    assert violation.value.extra == {"rule": "reopen requires a reason", "field": "reason"}
    assert state_of(incident) == before


# --- who may move an incident -------------------------------------------------------------------
@pytest.mark.parametrize(("source", "target"), IC_ONLY_PAIRS)
def test_only_the_ic_or_an_sre_lead_may_resolve_or_reopen(
    source, target, ic_user, responder, time_machine
):
    other_commander = UserFactory(rank="vp_engineering", groups=["incident_commander"])
    incident = incident_in(source, ic_user, time_machine)
    before = state_of(incident)
    for outsider in (responder, other_commander):
        with pytest.raises(PermissionDenied):
            move(incident, outsider, target, reason="not mine to call")
        assert state_of(incident) == before
    assert move(incident, ic_user, target, reason="mine to call").status == target


def test_an_sre_lead_may_reopen_without_being_ic(ic_user, sre_lead, time_machine):
    incident = incident_in(RESOLVED, ic_user, time_machine)
    result = move(incident, sre_lead, INVESTIGATING, reason="SRE lead call")
    assert result.status == INVESTIGATING
    assert incident.timeline.filter(kind=TimelineKind.REOPENED).get().actor == sre_lead


@pytest.mark.parametrize("outsider", ["sre_lead", "superuser", "platform"])
def test_only_the_ic_resolves_not_an_sre_lead_nor_the_platform(
    outsider, ic_user, sre_lead, time_machine
):
    """Procedures 3.1 and 7.4: the IC declares resolved. An SRE lead who is not the IC was
    able to resolve; now they are refused, and so is the platform (no actor)."""
    actor = {
        "sre_lead": sre_lead,
        "superuser": UserFactory(is_superuser=True, is_staff=True),
        "platform": None,
    }[outsider]
    incident = incident_in(MONITORING, ic_user, time_machine)
    before = state_of(incident)
    with pytest.raises(PermissionDenied) as denied:
        move(incident, actor, RESOLVED)
    assert "Incident Commander" in str(denied.value)
    assert "3.1, 7.4" in str(denied.value)
    assert state_of(incident) == before
    if outsider == "sre_lead":
        assert "take the Incident Commander role first" in str(denied.value)
    assert move(incident, ic_user, RESOLVED).status == RESOLVED


def test_an_sre_lead_takes_the_ic_role_audited_then_resolves(ic_user, sre_lead, time_machine):
    incident = incident_in(MONITORING, ic_user, time_machine, severity="P2")
    assert RESOLVED not in incident_detail_for_user(sre_lead, incident.pk).allowed_transitions

    assign_ic(incident, sre_lead)  # an SRE lead replaces a sitting IC

    [audit] = AuditEvent.objects.filter(action=AuditAction.ROLE_IC_TAKEN)
    assert audit.actor == sre_lead
    assert audit.target_user == sre_lead
    assert audit.target_id == str(incident.pk)
    assert audit.details["previous"] == ic_user.username
    assert RESOLVED in incident_detail_for_user(sre_lead, incident.pk).allowed_transitions
    # The IC they relieved is no longer the IC.
    with pytest.raises(PermissionDenied):
        move(incident, ic_user, RESOLVED)
    assert move(incident, sre_lead, RESOLVED).status == RESOLVED


def test_taking_the_ic_role_is_audited_only_for_sre_leads_taking_it(ic_user, time_machine):
    incident = incident_in(MONITORING, ic_user, time_machine, severity="P2")
    other = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    assign_ic(incident, other, actor=ic_user)
    assign_ic(incident, ic_user)
    assert not AuditEvent.objects.filter(action=AuditAction.ROLE_IC_TAKEN).exists()


def test_a_responder_who_is_the_ic_may_resolve(responder, time_machine):
    put_on_call(responder)  # the P3 IC is the on-call engineer (3.1)
    incident = incident_in(MONITORING, responder, time_machine, severity="P3")
    assert move(incident, responder, RESOLVED).status == RESOLVED
    assert move(incident, responder, INVESTIGATING, reason="again").status == INVESTIGATING


@pytest.mark.parametrize(("source", "target"), [p for p in ALLOWED_PAIRS if p not in IC_ONLY_PAIRS])
def test_any_responder_may_make_the_other_transitions(
    source, target, ic_user, responder, time_machine
):
    incident = incident_in(source, ic_user, time_machine)
    assert move(incident, responder, target).status == target
    assert incident.timeline.order_by("-id").first().actor == responder


@pytest.mark.parametrize(("source", "target"), ALLOWED_PAIRS)
def test_viewers_may_not_transition(source, target, ic_user, viewer, time_machine):
    incident = incident_in(source, ic_user, time_machine)
    before = state_of(incident)
    with pytest.raises(PermissionDenied):
        move(incident, viewer, target, reason="viewer")
    assert state_of(incident) == before


def test_the_platform_may_transition_without_an_actor(ic_user, time_machine):
    incident = incident_in(INVESTIGATING, ic_user, time_machine)
    move(incident, None, IDENTIFIED)
    event = incident.timeline.get(kind=TimelineKind.STATUS_CHANGED)
    assert event.actor is None
