"""Incident roles (procedures 3) through the services: who may hold which role at which
severity (incidents.rules.check_role_rules), the scribe rule, passing a single-holder role on,
SMEs, relieving, and the warnings a severity change leaves instead of blocking."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied

from incidents import services
from incidents.errors import RuleViolation
from incidents.models import RoleAssignment, TimelineEvent
from incidents.selectors import incident_detail_for_user, policy_for
from incidents.states import ENGINEERING_LADDER, Rank, Role, TimelineKind
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALL_RANKS = [str(r) for r in Rank]
LADDER = {str(r) for r in ENGINEERING_LADDER}

# Procedures 3.1 and 3.3, as written, and the ranks each sentence admits.
IC_RULES = {
    "P1": ("Engineering Manager or above", {"engineering_manager", "vp_engineering", "cto", "ceo"}),
    "P2": (
        "Senior Engineer or above",
        {"senior_engineer", "engineering_manager", "vp_engineering", "cto", "ceo"},
    ),
    "P3": ("On-call engineer", LADDER),
    "P4": ("On-call engineer", LADDER),
}
COMMS_RULES = {
    "P1": (
        "Customer Success Manager or Support Lead",
        {"customer_success_manager", "support_lead"},
    ),
    "P2": ("On-call engineer or support", LADDER | {"support", "support_lead"}),
    "P3": ("On-call engineer or support", LADDER | {"support", "support_lead"}),
}
SCRIBE_RULE = "Scribe: not the IC or Technical Lead"


def assign(incident, role, user, actor):
    return services.incident_assign_role(actor=actor, incident_id=incident.pk, role=role, user=user)


def snapshot(incident):
    return (
        list(RoleAssignment.objects.filter(incident=incident).values_list("id", "relieved_at")),
        list(TimelineEvent.objects.filter(incident=incident).values_list("id", flat=True)),
    )


def active(incident, role):
    return list(
        RoleAssignment.objects.filter(incident=incident, role=role, relieved_at__isnull=True)
    )


# --- 3.1 / 3.3 rank rules -------------------------------------------------------------------------
def test_the_rank_tables_cover_every_rank():
    assert len(ALL_RANKS) == 10
    assert IC_RULES["P3"][1] == set(ALL_RANKS) - {
        "support",
        "support_lead",
        "customer_success_manager",
        "security_lead",
    }


@pytest.mark.parametrize("severity", ["P1", "P2", "P3", "P4"])
@pytest.mark.parametrize("rank", ALL_RANKS)
def test_incident_commander_rank_rule(severity, rank, ic_user):
    selection, allowed = IC_RULES[severity]
    incident = declare(actor=ic_user, severity=severity)
    candidate = UserFactory(rank=rank, groups=["responder"])
    before = snapshot(incident)

    if rank in allowed:
        assignment = assign(incident, Role.INCIDENT_COMMANDER, candidate, ic_user)
        assert active(incident, Role.INCIDENT_COMMANDER) == [assignment]
        assert assignment.user == candidate
        return

    with pytest.raises(RuleViolation) as violation:
        assign(incident, Role.INCIDENT_COMMANDER, candidate, ic_user)
    assert selection in violation.value.detail
    assert policy_for(severity).ic_selection == selection
    assert "3.1" in violation.value.detail
    assert candidate.username in violation.value.detail
    assert Rank(rank).label in violation.value.detail
    assert violation.value.extra == {
        "rule": f"{severity} Incident Commander: {selection}",
        "field": "username",
    }
    assert snapshot(incident) == before


@pytest.mark.parametrize("severity", ["P1", "P2", "P3"])
@pytest.mark.parametrize("rank", ALL_RANKS)
def test_communications_lead_rank_rule(severity, rank, ic_user):
    selection, allowed = COMMS_RULES[severity]
    incident = declare(actor=ic_user, severity=severity)
    candidate = UserFactory(rank=rank, groups=["responder"])
    before = snapshot(incident)

    if rank in allowed:
        assignment = assign(incident, Role.COMMS_LEAD, candidate, ic_user)
        assert active(incident, Role.COMMS_LEAD) == [assignment]
        return

    with pytest.raises(RuleViolation) as violation:
        assign(incident, Role.COMMS_LEAD, candidate, ic_user)
    assert selection in violation.value.detail
    assert policy_for(severity).comms_lead_selection == selection
    assert "3.3" in violation.value.detail
    assert violation.value.extra["rule"] == f"{severity} Communications Lead: {selection}"
    assert snapshot(incident) == before


@pytest.mark.parametrize("rank", ALL_RANKS)
def test_p4_names_no_communications_lead_rule(rank, ic_user):
    incident = declare(actor=ic_user, severity="P4")
    candidate = UserFactory(rank=rank)
    assert assign(incident, Role.COMMS_LEAD, candidate, ic_user).user == candidate


@pytest.mark.parametrize("role", [Role.TECH_LEAD, Role.SCRIBE, Role.SME])
@pytest.mark.parametrize("rank", ["support", "customer_success_manager", "security_lead"])
def test_other_roles_have_no_rank_rule(role, rank, ic_user):
    incident = declare(actor=ic_user, severity="P1")
    assert assign(incident, role, UserFactory(rank=rank), ic_user).role == role


def test_rank_rule_and_its_wording_come_from_the_policy_in_force(ic_user, sre_lead):
    services.policy_object_update(
        actor=sre_lead,
        obj=policy_for("P2"),
        values={
            "ic_selection": "Engineering Manager or above (temporary)",
            "ic_allowed_ranks": ["engineering_manager", "vp_engineering", "cto", "ceo"],
        },
        reason="game day",
    )
    incident = declare(actor=ic_user, severity="P2")
    with pytest.raises(RuleViolation) as violation:
        assign(incident, Role.INCIDENT_COMMANDER, UserFactory(rank="senior_engineer"), ic_user)
    assert "Engineering Manager or above (temporary)" in violation.value.detail
    assert assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user).user == ic_user


# --- 3.4 the scribe is not the IC or the tech lead ----------------------------------------------
@pytest.mark.parametrize("other_role", [Role.INCIDENT_COMMANDER, Role.TECH_LEAD])
def test_the_ic_or_tech_lead_cannot_become_scribe(other_role, ic_user):
    incident = declare(actor=ic_user, severity="P1")
    person = UserFactory(rank="engineering_manager", groups=["responder"])
    assign(incident, other_role, person, ic_user)
    before = snapshot(incident)

    with pytest.raises(RuleViolation) as violation:
        assign(incident, Role.SCRIBE, person, ic_user)

    assert violation.value.extra["rule"] == SCRIBE_RULE
    assert "not the IC or Technical Lead" in violation.value.detail
    assert other_role.label in violation.value.detail
    assert snapshot(incident) == before
    assert active(incident, Role.SCRIBE) == []


@pytest.mark.parametrize("other_role", [Role.INCIDENT_COMMANDER, Role.TECH_LEAD])
def test_the_scribe_cannot_become_ic_or_tech_lead(other_role, ic_user):
    incident = declare(actor=ic_user, severity="P1")
    person = UserFactory(rank="engineering_manager", groups=["responder"])
    scribe = assign(incident, Role.SCRIBE, person, ic_user)
    before = snapshot(incident)

    with pytest.raises(RuleViolation) as violation:
        assign(incident, other_role, person, ic_user)

    assert violation.value.extra["rule"] == SCRIBE_RULE
    assert "is the Scribe" in violation.value.detail
    assert snapshot(incident) == before
    assert active(incident, Role.SCRIBE) == [scribe]
    assert active(incident, other_role) == []


def test_a_relieved_scribe_may_become_tech_lead(ic_user):
    incident = declare(actor=ic_user, severity="P1")
    person = UserFactory(rank="senior_engineer")
    assign(incident, Role.SCRIBE, person, ic_user)
    services.incident_relieve_role(
        actor=ic_user, incident_id=incident.pk, role=Role.SCRIBE, user=person
    )
    assert assign(incident, Role.TECH_LEAD, person, ic_user).role == Role.TECH_LEAD


def test_another_person_may_be_scribe_beside_the_ic_and_tech_lead(ic_user):
    incident = declare(actor=ic_user, severity="P1")
    assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user)
    assign(incident, Role.TECH_LEAD, UserFactory(rank="senior_engineer"), ic_user)
    scribe = UserFactory(rank="support")
    assert assign(incident, Role.SCRIBE, scribe, ic_user).user == scribe


# --- holding, passing on, relieving ---------------------------------------------------------------
@pytest.mark.parametrize(
    "role", [Role.INCIDENT_COMMANDER, Role.TECH_LEAD, Role.COMMS_LEAD, Role.SCRIBE]
)
def test_a_single_holder_role_passes_from_the_old_holder(role, ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user, severity="P3")
    old_holder = UserFactory(rank="senior_engineer", username="old-holder")
    new_holder = UserFactory(rank="senior_engineer", username="new-holder")
    first = assign(incident, role, old_holder, ic_user)

    time_machine.move_to(T0 + timedelta(minutes=20), tick=False)
    second = assign(incident, role, new_holder, ic_user)

    first.refresh_from_db()
    assert first.relieved_at == T0 + timedelta(minutes=20)
    assert first.relieved_by == ic_user
    assert second.relieved_at is None
    assert second.assigned_at == T0 + timedelta(minutes=20)
    assert active(incident, role) == [second]
    # History kept: who held the role when.
    assert list(
        RoleAssignment.objects.filter(incident=incident, role=role).values_list(
            "user__username", "assigned_at", "relieved_at"
        )
    ) == [
        ("old-holder", T0, T0 + timedelta(minutes=20)),
        ("new-holder", T0 + timedelta(minutes=20), None),
    ]
    event = incident.timeline.filter(kind=TimelineKind.ROLE_ASSIGNED).order_by("-id").first()
    assert event.data["role"] == role
    assert event.data["user"] == "new-holder"
    assert event.data["previous"] == "old-holder"
    assert "old-holder → new-holder" in event.text
    assert event.occurred_at == T0 + timedelta(minutes=20)
    assert event.actor == ic_user


def test_subject_matter_experts_can_be_many(ic_user):
    incident = declare(actor=ic_user, severity="P1")
    experts = [UserFactory(rank="engineer") for _ in range(3)]
    for expert in experts:
        assign(incident, Role.SME, expert, ic_user)
    assert {a.user for a in active(incident, Role.SME)} == set(experts)
    assert incident.timeline.filter(kind=TimelineKind.ROLE_ASSIGNED).count() == 3
    assert all(
        e.data["previous"] is None
        for e in incident.timeline.filter(kind=TimelineKind.ROLE_ASSIGNED)
    )


@pytest.mark.parametrize("role", [Role.TECH_LEAD, Role.SME, Role.INCIDENT_COMMANDER])
def test_reassigning_the_same_holder_is_a_no_op(role, ic_user):
    incident = declare(actor=ic_user, severity="P1")
    first = assign(incident, role, ic_user, ic_user)
    before = snapshot(incident)
    again = assign(incident, role, ic_user, ic_user)
    assert again.pk == first.pk
    assert snapshot(incident) == before


def test_relieving_keeps_the_history_and_is_on_the_timeline(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user, severity="P1")
    expert = UserFactory(rank="engineer", username="db-expert")
    assignment = assign(incident, Role.SME, expert, ic_user)
    time_machine.move_to(T0 + timedelta(minutes=45), tick=False)

    services.incident_relieve_role(
        actor=ic_user, incident_id=incident.pk, role=Role.SME, user=expert
    )

    assignment.refresh_from_db()
    assert assignment.relieved_at == T0 + timedelta(minutes=45)
    assert assignment.relieved_by == ic_user
    assert active(incident, Role.SME) == []
    event = incident.timeline.get(kind=TimelineKind.ROLE_RELIEVED)
    assert event.data == {"role": Role.SME, "user": "db-expert"}
    assert event.occurred_at == T0 + timedelta(minutes=45)
    assert event.actor == ic_user
    # Relieved, so the same person can be assigned again: a new row, the old one kept.
    assign(incident, Role.SME, expert, ic_user)
    assert RoleAssignment.objects.filter(incident=incident, user=expert).count() == 2


def test_relieving_someone_who_does_not_hold_the_role_is_refused(ic_user):
    incident = declare(actor=ic_user, severity="P1")
    before = snapshot(incident)
    with pytest.raises(RuleViolation) as violation:
        services.incident_relieve_role(
            actor=ic_user, incident_id=incident.pk, role=Role.TECH_LEAD, user=ic_user
        )
    assert violation.value.extra["rule"] == "role held"
    assert snapshot(incident) == before


@pytest.mark.parametrize("role", [r for r in Role])
def test_inactive_users_are_refused(role, ic_user):
    incident = declare(actor=ic_user, severity="P3")
    gone = UserFactory(rank="cto", is_active=False)
    before = snapshot(incident)
    with pytest.raises(RuleViolation) as violation:
        assign(incident, role, gone, ic_user)
    assert violation.value.extra["rule"] == "active_user"
    assert snapshot(incident) == before


def test_assigning_the_ic_ticks_ic_identified(ic_user):
    incident = declare(actor=ic_user, severity="P1")
    item = incident.checklist.get(key="ic_identified")
    assert not item.done
    assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user)
    item.refresh_from_db()
    assert item.done
    assert item.done_by == ic_user


def test_replacing_a_sitting_ic_takes_an_incident_commander(ic_user, responder):
    incident = declare(actor=ic_user, severity="P3")
    assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user)
    before = snapshot(incident)
    with pytest.raises(PermissionDenied):
        assign(incident, Role.INCIDENT_COMMANDER, responder, responder)
    assert snapshot(incident) == before


def test_viewers_cannot_assign(ic_user, viewer):
    incident = declare(actor=ic_user, severity="P3")
    with pytest.raises(PermissionDenied):
        assign(incident, Role.SME, viewer, viewer)
    assert not RoleAssignment.objects.filter(incident=incident).exists()


# --- a severity change is never blocked by the role rules -----------------------------------------
def test_raising_severity_warns_about_holders_instead_of_blocking(ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P2")
    senior = UserFactory(rank="senior_engineer", username="sam-senior", groups=["responder"])
    engineer = UserFactory(rank="engineer", username="eve-engineer", groups=["responder"])
    assign(incident, Role.INCIDENT_COMMANDER, senior, ic_user)
    assign(incident, Role.COMMS_LEAD, engineer, ic_user)
    assert incident_detail_for_user(ic_user, incident.pk).role_warnings == []

    services.incident_update(  # an SRE lead: sam-senior, the IC, is paged about it
        actor=sre_lead, incident_id=incident.pk, severity="P1", reason="all regions down"
    )

    incident.refresh_from_db()
    assert incident.severity == "P1"
    assert active(incident, Role.INCIDENT_COMMANDER)[0].user == senior  # nobody was removed
    warnings = incident_detail_for_user(ic_user, incident.pk).role_warnings
    assert len(warnings) == 2
    [ic_warning] = [w for w in warnings if "sam-senior" in w]
    assert "Engineering Manager or above" in ic_warning
    assert "Senior Engineer" in ic_warning
    [comms_warning] = [w for w in warnings if "eve-engineer" in w]
    assert "Customer Success Manager or Support Lead" in comms_warning
    event = incident.timeline.get(kind=TimelineKind.SEVERITY_CHANGED)
    assert event.data["old"] == "P2"
    assert event.data["new"] == "P1"
    assert sorted(event.data["role_warnings"]) == sorted(warnings)
    assert "Reassign" in event.text

    # Handing the roles to people who meet the P1 rules clears the warnings.
    assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user)
    assign(incident, Role.COMMS_LEAD, UserFactory(rank="support_lead"), ic_user)
    assert incident_detail_for_user(ic_user, incident.pk).role_warnings == []


def test_lowering_severity_leaves_no_warnings(ic_user):
    incident = declare(actor=ic_user, severity="P1")
    assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user)
    services.incident_update(
        actor=ic_user, incident_id=incident.pk, severity="P3", reason="one customer only"
    )
    assert incident_detail_for_user(ic_user, incident.pk).role_warnings == []
    event = incident.timeline.get(kind=TimelineKind.SEVERITY_CHANGED)
    assert event.data["role_warnings"] == []
