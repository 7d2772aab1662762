"""Incident roles (procedures 3) through the services: who may hold which role at which
severity (incidents.rules.check_role_rules), the scribe rule, passing a single-holder role on,
SMEs, relieving, and the warnings a severity change leaves instead of blocking."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied

from incidents import services
from incidents.errors import RuleViolation
from incidents.models import AuditEvent, RoleAssignment, Service, Team, TimelineEvent
from incidents.selectors import incident_detail_for_user, policy_for
from incidents.states import ENGINEERING_LADDER, AuditAction, Rank, Role, TimelineKind
from tests.factories import UserFactory, declare, put_on_call

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALL_RANKS = [str(r) for r in Rank]
LADDER = {str(r) for r in ENGINEERING_LADDER}

# Procedures 3.1 and 3.3, as written, and the ranks each sentence admits without being on call.
# "On-call engineer" is no rank: whoever is on call now, whatever their rank (or an SRE lead's
# override, with a reason).
IC_RULES = {
    "P1": ("Engineering Manager or above", {"engineering_manager", "vp_engineering", "cto", "ceo"}),
    "P2": (
        "Senior Engineer or above",
        {"senior_engineer", "engineering_manager", "vp_engineering", "cto", "ceo"},
    ),
    "P3": ("On-call engineer", set()),
    "P4": ("On-call engineer", set()),
}
COMMS_RULES = {
    "P1": (
        "Customer Success Manager or Support Lead",
        {"customer_success_manager", "support_lead"},
    ),
    "P2": ("On-call engineer or support", {"support", "support_lead"}),
    "P3": ("On-call engineer or support", {"support", "support_lead"}),
}
ON_CALL_SEVERITIES = {"ic": ["P3", "P4"], "comms": ["P2", "P3"]}
SCRIBE_RULE = "Scribe: not the IC or Technical Lead"


def assign(incident, role, user, actor, **override):
    return services.incident_assign_role(
        actor=actor, incident_id=incident.pk, role=role, user=user, **override
    )


def overriding(incident, user, actor, reason, role=Role.INCIDENT_COMMANDER):
    """An SRE lead's override of the on-call rule (3.1, 3.3), with its reason."""
    return assign(incident, role, user, actor, override=True, override_reason=reason)


def snapshot(incident):
    return (
        list(RoleAssignment.objects.filter(incident=incident).values_list("id", "relieved_at")),
        list(TimelineEvent.objects.filter(incident=incident).values_list("id", flat=True)),
        list(AuditEvent.objects.values_list("id", flat=True)),
    )


def active(incident, role):
    return list(
        RoleAssignment.objects.filter(incident=incident, role=role, relieved_at__isnull=True)
    )


# --- 3.1 / 3.3 rank rules -------------------------------------------------------------------------
def test_the_rank_tables_cover_every_rank():
    assert len(ALL_RANKS) == 10
    assert IC_RULES["P2"][1] < LADDER
    assert COMMS_RULES["P2"][1] == set(ALL_RANKS) - LADDER - {
        "customer_success_manager",
        "security_lead",
    }


@pytest.mark.parametrize("severity", ["P1", "P2"])
@pytest.mark.parametrize("rank", ALL_RANKS)
def test_incident_commander_rank_rule(severity, rank, ic_user):
    selection, allowed = IC_RULES[severity]
    incident = declare(actor=ic_user, severity=severity)
    candidate = UserFactory(rank=rank, groups=["responder"])
    put_on_call(candidate)  # being on call counts for nothing where the rule is a rank
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


@pytest.mark.parametrize("severity", ["P1"])
@pytest.mark.parametrize("rank", ALL_RANKS)
def test_communications_lead_rank_rule(severity, rank, ic_user):
    selection, allowed = COMMS_RULES[severity]
    incident = declare(actor=ic_user, severity=severity)
    candidate = UserFactory(rank=rank, groups=["responder"])
    put_on_call(candidate)
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


# --- 3.1 / 3.3 "On-call engineer": being on call now, whatever the rank -------------------------
@pytest.mark.parametrize("severity", ["P3", "P4"])
@pytest.mark.parametrize("rank", ALL_RANKS)
def test_whoever_is_on_call_may_command_a_p3_or_p4_whatever_their_rank(severity, rank, ic_user):
    incident = declare(actor=ic_user, severity=severity)
    candidate = UserFactory(rank=rank, groups=["responder"])
    put_on_call(candidate)
    assignment = assign(incident, Role.INCIDENT_COMMANDER, candidate, ic_user)
    assert active(incident, Role.INCIDENT_COMMANDER) == [assignment]


@pytest.mark.parametrize("severity", ["P3", "P4"])
@pytest.mark.parametrize("rank", ALL_RANKS)
def test_nobody_off_call_commands_a_p3_or_p4_whatever_their_rank(severity, rank, ic_user):
    incident = declare(actor=ic_user, severity=severity)
    candidate = UserFactory(rank=rank, groups=["responder"], username="off-call")
    on_call = UserFactory(username="olga-on-call")
    put_on_call(on_call)
    before = snapshot(incident)

    with pytest.raises(RuleViolation) as violation:
        assign(incident, Role.INCIDENT_COMMANDER, candidate, ic_user)

    detail = violation.value.detail
    assert detail.startswith(f"{severity} Incident Commander: On-call engineer (procedures 3.1)")
    assert "off-call is not on call now" in detail
    assert "olga-on-call (primary" in detail  # who would do
    assert "override_reason" in detail
    assert violation.value.extra == {
        "rule": f"{severity} Incident Commander: On-call engineer",
        "field": "username",
    }
    assert snapshot(incident) == before


@pytest.mark.parametrize("severity", ["P2", "P3"])
@pytest.mark.parametrize("rank", ALL_RANKS)
def test_communications_lead_is_on_call_or_support(severity, rank, ic_user):
    selection, support = COMMS_RULES[severity]
    incident = declare(actor=ic_user, severity=severity)
    off_call = UserFactory(rank=rank, groups=["responder"])
    before = snapshot(incident)

    if rank in support:  # "or support": the support team, on call or not
        assert assign(incident, Role.COMMS_LEAD, off_call, ic_user).user == off_call
    else:
        with pytest.raises(RuleViolation) as violation:
            assign(incident, Role.COMMS_LEAD, off_call, ic_user)
        assert selection in violation.value.detail
        assert "3.3" in violation.value.detail
        assert f"is {Rank(rank).label} and is not on call now" in violation.value.detail
        assert violation.value.extra["rule"] == f"{severity} Communications Lead: {selection}"
        assert snapshot(incident) == before

    on_call = UserFactory(rank=rank, groups=["responder"])
    put_on_call(on_call)
    assert assign(incident, Role.COMMS_LEAD, on_call, ic_user).user == on_call


def test_the_security_lead_on_call_may_command_a_p3(ic_user):
    """The case that started it: the security lead on call was refused as P3 IC."""
    security = Team.objects.get(slug="security")
    lead = UserFactory(rank="security_lead", groups=["security"], team=security)
    put_on_call(lead, security)
    incident = declare(
        actor=ic_user, severity="P3", services=[Service.objects.get(slug="authentication")]
    )
    assert assign(incident, Role.INCIDENT_COMMANDER, lead, ic_user).user == lead


def test_the_csm_on_the_support_rota_may_be_p2_communications_lead(ic_user):
    """The other case: the CSM on the support rota was refused as P2 Comms Lead."""
    support = Team.objects.get(slug="support")
    csm = UserFactory(rank="customer_success_manager", groups=["responder"], team=support)
    put_on_call(csm, support, slot="backup")  # the backup is on call too
    incident = declare(actor=ic_user, severity="P2")
    assert assign(incident, Role.COMMS_LEAD, csm, ic_user).user == csm


def test_the_owning_teams_on_call_comes_first(ic_user):
    """On call for the affected service's team counts; on call elsewhere counts only while
    nobody is on call for the owning team."""
    platform, security = Team.objects.get(slug="platform"), Team.objects.get(slug="security")
    gateway = Service.objects.get(slug="api-gateway")  # owned by Platform
    lead = UserFactory(rank="security_lead", groups=["security"], username="sec-lead")
    put_on_call(lead, security)
    incident = declare(actor=ic_user, severity="P3", services=[gateway])
    # Platform has no schedule: the security lead, on call elsewhere, may command.
    assign(incident, Role.INCIDENT_COMMANDER, lead, ic_user)

    platform_engineer = UserFactory(username="pat-platform", team=platform)
    put_on_call(platform_engineer, platform)
    second = declare(actor=ic_user, severity="P3", services=[gateway], title="Second gateway")
    with pytest.raises(RuleViolation) as violation:
        assign(second, Role.INCIDENT_COMMANDER, lead, ic_user)
    assert "on call now for Platform: pat-platform (primary" in violation.value.detail
    assert assign(second, Role.INCIDENT_COMMANDER, platform_engineer, ic_user).user == (
        platform_engineer
    )


def test_on_call_is_judged_when_the_role_is_given(ic_user, time_machine):
    """A shift that ends later does not unseat the IC, and leaves no warning."""
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user, severity="P3")
    engineer = UserFactory(username="eng-on-call")
    put_on_call(engineer, days=30)
    assign(incident, Role.INCIDENT_COMMANDER, engineer, ic_user)
    time_machine.move_to(T0 + timedelta(days=45), tick=False)  # the override has ended
    assert incident_detail_for_user(ic_user, incident.pk).role_warnings == []
    with pytest.raises(RuleViolation):  # it would not be given now
        assign(incident, Role.COMMS_LEAD, engineer, ic_user)
    assert active(incident, Role.INCIDENT_COMMANDER)[0].user == engineer
    assert incident_detail_for_user(ic_user, incident.pk).role_warnings == []


# --- viewers hold no roles -----------------------------------------------------------------------
@pytest.mark.parametrize("role", [r for r in Role])
@pytest.mark.parametrize("severity", ["P1", "P4"])
def test_viewers_never_hold_a_role(role, severity, ic_user, sre_lead):
    incident = declare(actor=ic_user, severity=severity)
    watcher = UserFactory(rank="cto", groups=["viewer"], username="vic-viewer")
    put_on_call(watcher)  # on call or not
    before = snapshot(incident)
    for actor, extra in (
        (ic_user, {}),
        (sre_lead, {"override": True, "override_reason": "short-staffed"}),
    ):
        with pytest.raises(RuleViolation) as violation:
            assign(incident, role, watcher, actor, **extra)
        assert violation.value.extra == {"rule": "viewers hold no roles", "field": "username"}
        assert "vic-viewer is in the viewer group" in violation.value.detail
        assert snapshot(incident) == before


# --- an SRE lead's override of the on-call rule -------------------------------------------------
def test_an_sre_lead_overrides_the_on_call_rule_with_a_reason_audited(ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P3")
    engineer = UserFactory(username="off-duty-olu", groups=["responder"])

    assignment = overriding(incident, engineer, sre_lead, "  knows the scheduler best  ")

    assert assignment.user == engineer
    [audit] = AuditEvent.objects.filter(action=AuditAction.ROLE_ON_CALL_OVERRIDE)
    assert audit.actor == sre_lead
    assert audit.target_user == engineer
    assert audit.target_type == "incidents.incident"
    assert audit.target_id == str(incident.pk)
    assert audit.details["reason"] == "knows the scheduler best"
    assert audit.details["role"] == Role.INCIDENT_COMMANDER
    assert audit.details["rule"] == "P3 Incident Commander: On-call engineer"
    event = incident.timeline.filter(kind=TimelineKind.ROLE_ASSIGNED).get()
    assert "on-call rule overridden by" in event.text
    assert "knows the scheduler best" in event.text
    assert event.data["override"] == {
        "by": sre_lead.username,
        "rule": "P3 Incident Commander: On-call engineer",
        "reason": "knows the scheduler best",
    }


def test_an_override_that_is_not_needed_is_not_recorded(ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P3")
    engineer = UserFactory()
    put_on_call(engineer)
    assign(incident, Role.COMMS_LEAD, engineer, sre_lead, override=True, override_reason="x")
    assert not AuditEvent.objects.filter(action=AuditAction.ROLE_ON_CALL_OVERRIDE).exists()
    assert "override" not in incident.timeline.get(kind=TimelineKind.ROLE_ASSIGNED).data


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_override_without_a_reason_is_refused_naming_the_field(reason, ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P3")
    candidate = UserFactory()
    before = snapshot(incident)
    with pytest.raises(RuleViolation) as violation:
        overriding(incident, candidate, sre_lead, reason)
    assert violation.value.extra["field"] == "override_reason"
    assert "override_reason is required" in violation.value.detail
    assert snapshot(incident) == before


def test_a_reason_without_override_is_refused_naming_the_field(ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P3")
    with pytest.raises(RuleViolation) as violation:
        assign(incident, Role.SCRIBE, UserFactory(), sre_lead, override_reason="why not")
    assert violation.value.extra["field"] == "override"
    assert not RoleAssignment.objects.filter(incident=incident).exists()


@pytest.mark.parametrize("actor_groups", [["responder"], ["incident_commander"], ["security"]])
def test_only_sre_leads_override(actor_groups, ic_user):
    incident = declare(actor=ic_user, severity="P3")
    actor = UserFactory(rank="cto", groups=actor_groups)
    candidate = UserFactory()
    before = snapshot(incident)
    with pytest.raises(PermissionDenied) as denied:
        overriding(incident, candidate, actor, "trust me")
    assert "Only SRE leads may override the on-call rule" in str(denied.value)
    assert snapshot(incident) == before


def test_an_override_does_not_bend_the_rank_rules(ic_user, sre_lead):
    """P1/P2 IC are ranks (3.1), not on-call: no override admits an engineer."""
    incident = declare(actor=ic_user, severity="P2")
    engineer = UserFactory(rank="engineer")
    before = snapshot(incident)
    with pytest.raises(RuleViolation) as violation:
        overriding(incident, engineer, sre_lead, "no seniors around")
    assert violation.value.extra["rule"] == "P2 Incident Commander: Senior Engineer or above"
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
    put_on_call(old_holder)  # P3 IC and Comms Lead: the on-call engineer (3.1, 3.3)
    put_on_call(new_holder)
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
    put_on_call(ic_user)
    put_on_call(responder)
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
    put_on_call(engineer)  # P2 Comms Lead: on call or support (3.3)
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


# --- 3.2 the Technical Lead: an expert of the affected service, or a senior of its team ----------
@pytest.fixture
def gateway():
    return Service.objects.get(slug="api-gateway")  # owned by Platform


def tech_lead_warnings(incident, viewer):
    return [
        w
        for w in incident_detail_for_user(viewer, incident.pk).role_warnings
        if w.startswith("Technical Lead")
    ]


@pytest.mark.parametrize(
    ("rank", "team", "expert"),
    [
        ("engineer", "security", True),  # an expert of the service, from any team
        ("senior_engineer", "platform", False),  # a senior engineer of the owning team
        ("engineering_manager", "platform", False),  # "senior" includes those above
    ],
)
def test_a_technical_lead_who_meets_3_2_leaves_no_warning(rank, team, expert, ic_user, gateway):
    lead = UserFactory(rank=rank, team=Team.objects.get(slug=team), groups=["responder"])
    if expert:
        gateway.experts.add(lead)
    incident = declare(actor=ic_user, severity="P2", services=[gateway])
    assign(incident, Role.TECH_LEAD, lead, ic_user)
    assert tech_lead_warnings(incident, ic_user) == []
    assert "warning" not in incident.timeline.get(kind=TimelineKind.ROLE_ASSIGNED).data


@pytest.mark.parametrize(
    ("rank", "team"),
    [
        ("engineer", "platform"),  # of the owning team, but not senior and no expert
        ("senior_engineer", "security"),  # senior, but of another team
        ("support_lead", "platform"),  # not on the engineering ladder
    ],
)
def test_a_technical_lead_who_does_not_meet_3_2_is_assigned_with_a_warning(
    rank, team, ic_user, gateway
):
    lead = UserFactory(
        rank=rank, team=Team.objects.get(slug=team), groups=["responder"], username="tl-ted"
    )
    gateway.experts.add(UserFactory())  # someone else is the expert
    incident = declare(actor=ic_user, severity="P2", services=[gateway])

    assignment = assign(incident, Role.TECH_LEAD, lead, ic_user)  # not refused: 3.2 advises

    assert active(incident, Role.TECH_LEAD) == [assignment]
    [warning] = tech_lead_warnings(incident, ic_user)
    assert "subject matter expert for the affected system or senior engineer from the owning " in (
        warning
    )
    assert "(procedures 3.2)" in warning
    assert "tl-ted is not an expert of API Gateway and not a senior engineer of Platform" in (
        warning
    )
    event = incident.timeline.get(kind=TimelineKind.ROLE_ASSIGNED)
    assert event.data["warning"] == warning
    assert "Warning:" in event.text

    # Handing the role to the service's expert clears it.
    expert = UserFactory(rank="engineer")
    gateway.experts.add(expert)
    assign(incident, Role.TECH_LEAD, expert, ic_user)
    assert tech_lead_warnings(incident, ic_user) == []


def test_a_technical_lead_without_an_affected_service_is_warned_to_name_one(ic_user, gateway):
    incident = declare(actor=ic_user, severity="P3")
    senior = UserFactory(rank="senior_engineer", team=Team.objects.get(slug="platform"))
    assign(incident, Role.TECH_LEAD, senior, ic_user)
    [warning] = tech_lead_warnings(incident, ic_user)
    assert "names no affected service" in warning
    services.incident_update(actor=ic_user, incident_id=incident.pk, services=[gateway])
    assert tech_lead_warnings(incident, ic_user) == []


# --- taking the IC role acknowledges (4.2, Appendix A: acknowledgement follows people) ---------
def test_taking_the_ic_role_acknowledges_and_says_so(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user, severity="P1")
    assert incident.acknowledged_at is None  # declaring alone does not acknowledge
    time_machine.move_to(T0 + timedelta(minutes=3), tick=False)

    assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user)

    incident.refresh_from_db()
    assert incident.acknowledged_at == T0 + timedelta(minutes=3)
    assert incident.acknowledged_by == ic_user
    assigned, acknowledged = incident.timeline.filter(
        kind__in=[TimelineKind.ROLE_ASSIGNED, TimelineKind.ACKNOWLEDGED]
    ).order_by("id")
    assert assigned.kind == TimelineKind.ROLE_ASSIGNED
    assert acknowledged.kind == TimelineKind.ACKNOWLEDGED
    assert (
        acknowledged.text
        == f"Acknowledged by {ic_user.username} (took the Incident Commander role)"
    )
    assert acknowledged.data["via"] == "took the Incident Commander role"
    assert acknowledged.data["seconds_after_detection"] == 180
    assert incident.checklist.get(key="alert_acknowledged").done


def test_made_ic_by_someone_else_the_acknowledgement_is_the_ics(ic_user, responder):
    incident = declare(actor=ic_user, severity="P1")
    em = UserFactory(rank="engineering_manager", username="em-erin", groups=["responder"])
    assign(incident, Role.INCIDENT_COMMANDER, em, responder)
    incident.refresh_from_db()
    assert incident.acknowledged_by == em
    event = incident.timeline.get(kind=TimelineKind.ACKNOWLEDGED)
    assert event.actor == responder
    assert (
        event.text == f"Acknowledged by em-erin (made Incident Commander by {responder.username})"
    )


@pytest.mark.parametrize("role", [Role.TECH_LEAD, Role.COMMS_LEAD, Role.SCRIBE, Role.SME])
def test_other_roles_do_not_acknowledge(role, ic_user):
    incident = declare(actor=ic_user, severity="P1")
    assign(incident, role, UserFactory(rank="support_lead"), ic_user)
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_the_first_acknowledgement_stands_when_an_ic_is_assigned_later(ic_user, responder):
    incident = declare(actor=ic_user, severity="P1")
    services.incident_acknowledge(actor=responder, incident_id=incident.pk)
    assign(incident, Role.INCIDENT_COMMANDER, ic_user, ic_user)
    incident.refresh_from_db()
    assert incident.acknowledged_by == responder
    assert incident.timeline.filter(kind=TimelineKind.ACKNOWLEDGED).count() == 1
