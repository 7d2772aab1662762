from datetime import date, time, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from dashboard.metrics import duration_stats, target_compliance, visible_incidents
from incidents import services
from incidents.models import Rotation, RotationMember, Schedule
from tests.factories import TeamFactory, UserFactory, declare, drive_to

pytestmark = pytest.mark.django_db


def test_metrics_count_only_visible_incidents_and_compliance(ic, service):
    now = timezone.now()
    fast = declare(
        actor=ic,
        title="fast",
        severity="P1",
        services=[service],
        started_at=now - timedelta(minutes=10),
        detected_at=now - timedelta(minutes=4),
    )
    drive_to(fast, "resolved", ic)  # resolved ~15 minutes after detection: within 2 h
    with time_machine.travel(now - timedelta(hours=5)):
        slow = declare(actor=ic, title="slow", severity="P1", services=[service])
    services.incident_assign_role(actor=ic, incident_id=slow.pk, role="incident_commander", user=ic)
    drive_to(slow, "resolved", ic)  # ~5 h after detection: over the 2 h target
    lead = UserFactory(rank="security_lead", groups=["security"])
    declare(
        actor=lead,
        title="secret",
        severity="P1",
        security=True,
        started_at=now - timedelta(hours=9),
    )

    incidents = visible_incidents(ic)
    assert {i.title for i in incidents} == {"fast", "slow"}
    tables = {(t["metric"], t["grouping"]): t["stats"] for t in duration_stats(incidents)}
    (ttd,) = tables[("MTTD", "severity")]
    assert ttd.count == 1 and ttd.mean == 360 and ttd.p50 == 360
    (ttr,) = tables[("MTTR", "service")]
    assert ttr.group == "API Gateway" and ttr.count == 2
    p1 = target_compliance(incidents)[0]
    assert (p1.severity, p1.target_minutes, p1.resolved, p1.within) == ("P1", 120, 2, 1)
    assert p1.percent == 50


def test_reports_page_has_charts_with_tables(ic_client, ic, service):
    incident = declare(actor=ic, title="one", severity="P2", services=[service])
    drive_to(incident, "resolved", ic)
    page = ic_client.get(reverse("dashboard:reports")).content.decode()
    # Every chart has its table: ten of durations and compliance, plus one per report that
    # comms and pir provide.
    assert page.count("<svg") == page.count("<table") >= 10
    assert "MTTR by month" in page and "Resolution-target compliance" in page
    assert 'role="img"' in page and "<caption>" in page


def test_oncall_page(ic_client, ic):
    team = TeamFactory(slug="test-oncall", name="Test On-call Team")
    alice = UserFactory(username="alice", first_name="Alice")
    bob = UserFactory(username="bob", first_name="Bob")
    schedule = Schedule.objects.create(team=team, slug="test-weekly", name="Test weekly")
    rotation = Rotation.objects.create(
        schedule=schedule, name="Weekly", anchor_date=date(2026, 1, 5), handoff_time=time(9, 0)
    )
    RotationMember.objects.create(rotation=rotation, user=alice, position=0)
    RotationMember.objects.create(rotation=rotation, user=bob, position=1)
    page = ic_client.get(reverse("dashboard:oncall")).content.decode()
    assert "Test weekly" in page and "Primary" in page and "Backup" in page
    assert "alice" in page and "bob" in page
    assert reverse("ical-schedule", args=[schedule.feed_token]) in page
    assert reverse("ical-user", args=[ic.feed_token]) in page
    assert "Next hand-offs" in page


def test_reports_from_comms_and_pir(ic_client, ic, service):
    pytest.importorskip("comms.selectors")
    pytest.importorskip("pir.selectors")
    drive_to(declare(actor=ic, title="one", severity="P1", services=[service]), "resolved", ic)
    page = ic_client.get(reverse("dashboard:reports")).content.decode()
    assert "Communications conformance (2.1, 6.3)" in page
    assert "Post-incident reviews (8.1)" in page and "Action items (8.4)" in page
