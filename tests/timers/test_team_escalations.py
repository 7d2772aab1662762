"""Each team's escalation (procedures 9.4: Platform → Engineering Manager, Security → Security
Lead, Support → Support Manager) is data on the team, and the escalations of 5.1 reach the
affected services' teams through it: a Security-owned service never escalates to the Platform
team's Engineering Manager."""

from datetime import timedelta

import pytest

from incidents.models import (
    Deadline,
    EscalationRule,
    Page,
    PolicyChange,
    RotationMember,
    Service,
    Team,
)
from incidents.policy import TEAM_ESCALATION_DEFAULTS
from incidents.states import Rank, TimelineKind
from tests.factories import ServiceFactory, UserFactory, declare
from tests.test_policy_document import section, table
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def at_t0(time_machine):
    time_machine.move_to(T0, tick=False)


@pytest.fixture
def support(db):
    """The Support team's Support Manager and Support Lead, and a service Support owns."""
    team = Team.objects.get(slug="support")
    return {
        "manager": UserFactory(username="sue-support-manager", rank="support_manager", team=team),
        "lead": UserFactory(username="stan-support-lead", rank="support_lead", team=team),
        "service": ServiceFactory(slug="helpdesk", name="Helpdesk", team=team),
    }


def em_rule_key(incident) -> str:
    rule = EscalationRule.objects.get(severity="P1", trigger="unacknowledged", after_minutes=10)
    return Deadline.objects.get(incident=incident, key=f"rule:{rule.pk}").key


def paged(incident, key: str) -> list[str]:
    return sorted(
        Page.objects.filter(incident=incident, rule_key=key).values_list(
            "recipient__username", flat=True
        )
    )


def escalation_event(incident, key):
    deadline = Deadline.objects.get(incident=incident, key=key)
    return incident.timeline.get(kind=TimelineKind.ESCALATED, data__deadline=deadline.pk)


def test_the_seeded_teams_escalate_as_the_procedures_say():
    rows = table(section("### 9.4 "))
    expected = {row["Team"]: row["Escalation"] for row in rows}
    assert {team: Rank(rank).label for team, rank in TEAM_ESCALATION_DEFAULTS.items()} == expected
    seeded = dict(Team.objects.values_list("name", "escalation_rank"))
    assert {name: seeded[name] for name in expected} == dict(TEAM_ESCALATION_DEFAULTS)


@pytest.mark.parametrize(
    ("service", "who", "note"),
    [
        ("api-gateway", "emma-em", ""),
        ("authentication", "sam-seclead", "Security escalates to its Security Lead (9.4)"),
        ("helpdesk", "sue-support-manager", "Support escalates to its Support Manager (9.4)"),
    ],
)
def test_p1_unacknowledged_for_10_minutes_reaches_the_owning_teams_escalation(
    org, ic, support, at_t0, sweep, service, who, note
):
    incident = declare(actor=ic, severity="P1", services=[Service.objects.get(slug=service)])
    key = em_rule_key(incident)
    sweep(T0 + minutes(10))
    assert paged(incident, key) == [who]
    event = escalation_event(incident, key)
    assert event.text.startswith("Escalated to Engineering Manager: P1 not acknowledged in 10 min")
    assert f"paged {who}" in event.text
    assert event.data["notes"] == ([note] if note else [])


def test_an_incident_on_two_teams_services_escalates_to_each_teams_target(
    org, ic, gateway, at_t0, sweep
):
    services = [*gateway, Service.objects.get(slug="authentication")]
    incident = declare(actor=ic, severity="P1", services=services)
    key = em_rule_key(incident)
    sweep(T0 + minutes(10))
    assert paged(incident, key) == ["emma-em", "sam-seclead"]


def test_p2_manager_notification_goes_to_the_owning_teams_escalation(org, ic, at_t0, sweep):
    incident = declare(
        actor=ic, severity="P2", services=[Service.objects.get(slug="authentication")]
    )
    sweep(T0)
    # Security's own on-call pair, and its Security Lead as "Manager notification" (2.1).
    assert paged(incident, "notify:P2") == ["dave", "erin", "sam-seclead"]


def test_a_missing_backup_falls_back_to_the_teams_escalation_and_says_which(org, ic, at_t0, sweep):
    RotationMember.objects.filter(rotation__schedule=org.sec_schedule).exclude(
        user=org.sec_primary
    ).delete()
    incident = declare(actor=ic, severity="P1", services=[Service.objects.get(slug="encryption")])
    rule = EscalationRule.objects.get(severity="P1", trigger="unacknowledged", after_minutes=5)
    sweep(T0 + minutes(5))
    assert paged(incident, f"rule:{rule.pk}") == ["sam-seclead"]
    event = escalation_event(incident, f"rule:{rule.pk}")
    assert event.data["notes"] == ["no backup on call; paged the Security Lead instead"]


def test_a_team_whose_escalation_rank_nobody_holds_pages_nobody_and_says_so(org, ic, at_t0, sweep):
    """Support escalates to its Support Manager; with none in the organisation nobody is
    paged (the Platform team's Engineering Manager is not a stand-in)."""
    service = ServiceFactory(
        slug="helpdesk", name="Helpdesk", team=Team.objects.get(slug="support")
    )
    incident = declare(actor=ic, severity="P1", services=[service])
    key = em_rule_key(incident)
    sweep(T0 + minutes(10))
    assert paged(incident, key) == []
    assert "nobody paged" in escalation_event(incident, key).text


def test_manual_escalation_to_the_engineering_manager_uses_the_team_too(org, ic, api, at_t0):
    incident = declare(
        actor=ic, severity="P1", services=[Service.objects.get(slug="authentication")]
    )
    response = api(ic).post(
        f"/api/v1/incidents/{incident.pk}/escalate/",
        {"target": "engineering_manager", "reason": "keys may be exposed"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert sorted(
        Page.objects.filter(incident=incident, rule_key__startswith="manual:").values_list(
            "recipient__username", flat=True
        )
    ) == ["sam-seclead"]


def test_an_sre_lead_changes_a_teams_escalation_in_admin_and_it_applies(
    org, ic, support, sre_lead, client, at_t0, sweep
):
    team = Team.objects.get(slug="support")
    client.force_login(sre_lead)
    page = client.get(f"/admin/incidents/team/{team.pk}/change/")
    assert page.status_code == 200
    assert 'name="escalation_rank"' in page.content.decode()
    response = client.post(
        f"/admin/incidents/team/{team.pk}/change/",
        {"name": team.name, "slug": team.slug, "escalation_rank": "support_lead"},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.escalation_rank == "support_lead"
    change = PolicyChange.objects.get(target="team:support")
    assert (change.field, change.old_value, change.new_value, change.changed_by) == (
        "escalation_rank",
        "support_manager",
        "support_lead",
        sre_lead,
    )

    incident = declare(actor=ic, severity="P1", services=[support["service"]])
    key = em_rule_key(incident)
    sweep(T0 + minutes(10))
    assert paged(incident, key) == ["stan-support-lead"]


def test_a_viewer_cannot_change_a_teams_escalation(org, client):
    team = Team.objects.get(slug="security")
    viewer = UserFactory(groups=["viewer"], is_staff=True)
    client.force_login(viewer)
    response = client.post(
        f"/admin/incidents/team/{team.pk}/change/",
        {"name": team.name, "slug": team.slug, "escalation_rank": "engineering_manager"},
    )
    assert response.status_code == 403
    team.refresh_from_db()
    assert team.escalation_rank == "security_lead"
