"""`manage.py demo_seed` runs on every `make run`: it must be idempotent, give every rank and
group a login, and build its incidents through the services so they follow the rules."""

import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone

from incidents.models import (
    ChecklistItem,
    Deadline,
    Incident,
    PolicyChange,
    RoleAssignment,
    Service,
    TimelineEvent,
    User,
)
from incidents.selectors import incident_list_for_user, policy_for
from incidents.states import GroupName, Rank, Role, Severity, Status
from tests.factories import declare

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _default_passwords(monkeypatch):
    monkeypatch.delenv("TENSAFE_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("TENSAFE_DEMO_PASSWORD", raising=False)


def seed() -> str:
    out = StringIO()
    call_command("demo_seed", stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    models = (User, Incident, TimelineEvent, RoleAssignment, ChecklistItem, PolicyChange)
    return {model.__name__: model.objects.count() for model in models}


def _rows() -> dict[str, list]:
    return {
        "users": list(User.objects.order_by("pk").values()),
        "incidents": list(Incident.objects.order_by("pk").values()),
        "checklist": list(ChecklistItem.objects.order_by("pk").values()),
    }


def test_second_run_changes_nothing_and_says_so():
    first = seed()
    counts, rows = _counts(), _rows()

    second = seed()

    assert _counts() == counts
    assert _rows() == rows
    assert "admin" in first and "demo-password" in first
    assert "nothing changed" in second
    assert "demo-password" not in second  # unknown after the first run: not re-checked
    assert re.search(r"^\s+admin\s+admin\s", second, re.M)  # printed at every start


def test_every_rank_and_group_has_a_login():
    seed()

    assert set(Rank.values) <= set(User.objects.values_list("rank", flat=True))
    for name in GroupName.values:
        assert Group.objects.get(name=name).user_set.exists(), name
    sre_lead = User.objects.get(username="sre-lead")
    assert sre_lead.is_staff and not sre_lead.is_superuser
    assert User.objects.get(username="engineer").check_password("demo-password")
    assert User.objects.get(username="engineer").team.slug == "platform"


def test_admin_is_a_superuser_with_the_default_password():
    seed()

    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password("admin")


def test_admin_password_is_left_alone_unless_set_explicitly(monkeypatch):
    seed()
    admin = User.objects.get(username="admin")
    admin.set_password("changed-by-hand")
    admin.save()

    seed()
    admin.refresh_from_db()
    assert admin.check_password("changed-by-hand")

    monkeypatch.setenv("TENSAFE_ADMIN_PASSWORD", "from-the-environment")
    seed()
    admin.refresh_from_db()
    assert admin.check_password("from-the-environment")


def test_demo_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TENSAFE_DEMO_PASSWORD", "another-demo-secret")

    seed()

    assert User.objects.get(username="csm").check_password("another-demo-secret")


def test_incidents_cover_every_status_and_severity():
    seed()

    assert set(Incident.objects.values_list("status", flat=True)) == set(Status.values)
    assert set(Incident.objects.values_list("severity", flat=True)) == set(Severity.values)
    assert all(i.checklist.exists() and i.timeline.exists() for i in Incident.objects.all())


def test_the_demo_leaves_no_deadline_overdue_and_its_timelines_show_what_fired():
    seed()

    assert not Deadline.objects.filter(status="pending", due_at__lte=timezone.now()).exists()
    fired = Deadline.objects.filter(status="fired")
    assert fired.exists()
    # Each fired at the moment it fell due in the demo's history (lateness 0), and its
    # timeline event says so at that moment, not when the seed ran.
    assert set(fired.values_list("lateness_ms", flat=True)) == {0}
    for deadline in fired:
        event = TimelineEvent.objects.get(data__deadline=deadline.pk)
        assert event.occurred_at == deadline.fired_at == max(deadline.due_at, deadline.created_at)
    # The Monitoring P2 was never given a status page update: the missed deadline is on record.
    p2 = Incident.objects.get(status=Status.MONITORING)
    assert TimelineEvent.objects.filter(
        incident=p2, kind="comms_missed", text__startswith="Status page update"
    ).exists()


def test_security_incident_is_restricted():
    seed()

    incident = Incident.objects.get(security=True)
    assert incident not in incident_list_for_user(User.objects.get(username="sre-lead"))
    assert incident in incident_list_for_user(User.objects.get(username="security-lead"))


def test_incidents_are_seeded_only_into_an_empty_database(ic_user):
    declare(actor=ic_user, title="A real incident, declared before the demo data")

    seed()

    assert Incident.objects.count() == 1
    assert User.objects.filter(username="manager").exists()


def test_managers_are_linked_for_escalations():
    seed()

    assert User.objects.get(username="engineer").manager.username == "manager"
    assert User.objects.get(username="manager").manager.username == "vp"


def test_resolved_p1_has_a_real_timeline_and_roles_by_the_rules():
    seed()

    incident = Incident.objects.get(severity="P1", status=Status.RESOLVED)
    assert incident.timeline.count() >= 6
    kinds = set(incident.timeline.values_list("kind", flat=True))
    assert {"declared", "acknowledged", "role_assigned", "note", "status_changed"} <= kinds
    assert incident.started_at < incident.detected_at < incident.acknowledged_at
    assert incident.identified_at < incident.mitigated_at < incident.resolved_at
    assert incident.ttr_seconds < policy_for("P1").target_resolution_minutes * 60
    holders = {a.role: a.user for a in incident.roles.filter(relieved_at__isnull=True)}
    assert holders[Role.INCIDENT_COMMANDER].rank in policy_for("P1").ic_allowed_ranks
    assert holders[Role.COMMS_LEAD].rank in policy_for("P1").comms_lead_allowed_ranks
    assert holders[Role.SCRIBE] not in (
        holders[Role.INCIDENT_COMMANDER],
        holders[Role.TECH_LEAD],
    )
    assert not incident.checklist.filter(checklist="resolution", done=False).exists()


def test_demo_roles_meet_the_rules_of_issue_14():
    """The P3's IC was on call when given the role (3.1), every Technical Lead is an expert of
    the affected service (3.2), and no demo incident shows a role warning."""
    from incidents.oncall import oncall_now
    from incidents.selectors import incident_detail_for_user

    seed()

    p3 = Incident.objects.get(severity="P3")
    command = p3.roles.get(role=Role.INCIDENT_COMMANDER, relieved_at__isnull=True)
    team_ids = set(p3.services.values_list("team_id", flat=True))
    assert oncall_now(team_ids, command.assigned_at).slot(command.user) is not None
    admin = User.objects.get(username="admin")
    for incident in Incident.objects.all():
        assert incident_detail_for_user(admin, incident.pk).role_warnings == [], incident
    assert set(Service.objects.get(slug="inference").experts.values_list("username", flat=True))
    assert not User.objects.get(username="viewer").expert_for.exists()


def test_each_teams_escalation_reaches_a_demo_login_of_that_team():
    """9.4: Platform → Engineering Manager, Security → Security Lead, Support → Support
    Manager, each a login of its own team."""
    from incidents.escalation import Recipients
    from incidents.models import Team

    seed()

    reached = {}
    for team in Team.objects.filter(slug__in=["platform", "security", "support"]):
        people, _what, _note = Recipients(timezone.now()).team_escalation([team])
        assert [p.team_id for p in people] == [team.pk], team.slug
        reached[team.slug] = [p.username for p in people]
    assert reached == {
        "platform": ["manager"],
        "security": ["security-lead"],
        "support": ["support-manager"],
    }


def test_the_security_incident_has_approved_public_words_and_no_internal_title_in_them():
    seed()

    incident = Incident.objects.get(security=True)
    assert incident.public_approved_by.username == "security-lead"
    assert incident.public_title and incident.title not in incident.public_text
