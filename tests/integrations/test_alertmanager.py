"""Prometheus Alertmanager (webhook_config, payload version 4): a new group opens an incident,
the same payload again changes nothing, a second alert of the group joins, resolved alerts go
on the timeline (and, when configured, the incident moves to Monitoring)."""

from datetime import UTC, datetime

import pytest

from incidents import services
from incidents.models import Incident
from incidents.services.timers import deadlines_fire_due
from incidents.states import Status, TimelineKind
from integrations.models import Alert, AlertGroup, InboundDelivery
from tests.factories import drive_to

from .conftest import load

pytestmark = pytest.mark.django_db


def kinds(incident, *wanted):
    return list(
        incident.timeline.filter(kind__in=wanted).order_by("id").values_list("kind", flat=True)
    )


def test_a_new_group_opens_an_incident(sender, catalog):
    am = sender("alertmanager")
    response = am.post(load("alertmanager_firing"))

    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    incident = Incident.objects.get()
    assert incident.title == (
        "InferenceHighErrorRate (service=inference-api): More than 25% of inference requests "
        "are failing"
    )
    assert incident.severity == "P1"  # severity="critical"
    assert incident.detection_source == "monitoring"
    assert incident.detected_at == datetime(2026, 11, 27, 9, 41, 7, 312000, tzinfo=UTC)
    assert list(incident.services.values_list("slug", flat=True)) == ["inference-api"]
    assert incident.declared_by is None  # the platform
    received = incident.timeline.get(kind=TimelineKind.ALERT_RECEIVED)
    assert received.actor is None
    assert received.data["alerts"][0]["fingerprint"] == "5f1a2c3d4e5b6a79"
    assert received.data["integration_kind"] == "alertmanager"
    alert = Alert.objects.get()
    assert (alert.status, alert.severity, alert.incident) == ("firing", "P1", incident)
    assert alert.ends_at is None  # Alertmanager's zero time
    assert alert.labels["pod"] == "inference-api-7c9d8b6f4-x2k9p"
    assert InboundDelivery.objects.get().status == "processed"


def test_the_same_payload_twice_is_one_alert_on_one_incident(sender, catalog):
    am = sender("alertmanager")
    payload = load("alertmanager_firing")
    assert am.post(payload).status_code == 202
    assert am.post(payload).status_code == 202

    incident = Incident.objects.get()
    assert kinds(incident, TimelineKind.ALERT_RECEIVED) == [TimelineKind.ALERT_RECEIVED]
    alert = Alert.objects.get()
    assert alert.times_received == 2
    assert InboundDelivery.objects.count() == 2  # both stored, as received


def test_a_second_alert_of_the_group_joins_its_incident(sender, catalog):
    am = sender("alertmanager")
    am.post(load("alertmanager_firing"))
    am.post(load("alertmanager_firing_grouped"))  # the first again, plus a second instance

    incident = Incident.objects.get()
    assert AlertGroup.objects.count() == 1
    assert Alert.objects.filter(incident=incident).count() == 2
    events = incident.timeline.filter(kind=TimelineKind.ALERT_RECEIVED).order_by("id")
    assert [[a["fingerprint"] for a in e.data["alerts"]] for e in events] == [
        ["5f1a2c3d4e5b6a79"],
        ["8b0e7d6c5a4f3e21"],
    ]


def test_another_group_opens_another_incident(sender, catalog):
    am = sender("alertmanager")
    am.post(load("alertmanager_firing"))
    other = load("alertmanager_firing")
    other["groupKey"] = '{}/{severity=~"critical|error"}:{alertname="DiskFull"}'
    other["alerts"][0]["fingerprint"] = "0000aaaa1111bbbb"
    am.post(other)
    assert Incident.objects.count() == 2


def test_resolved_alerts_go_on_the_timeline_and_leave_the_status(sender, catalog):
    am = sender("alertmanager")
    am.post(load("alertmanager_firing_grouped"))
    assert am.post(load("alertmanager_resolved")).status_code == 202

    incident = Incident.objects.get()
    assert incident.status == Status.INVESTIGATING
    resolved = incident.timeline.get(kind=TimelineKind.ALERT_RESOLVED)
    assert {a["fingerprint"] for a in resolved.data["alerts"]} == {
        "5f1a2c3d4e5b6a79",
        "8b0e7d6c5a4f3e21",
    }
    assert resolved.data["alerts"][0]["ends_at"].startswith("2026-11-27T10:0")
    assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}
    # Resolved again (Alertmanager repeats): nothing new.
    am.post(load("alertmanager_resolved"))
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1


def test_all_resolved_moves_to_monitoring_when_configured(sender, catalog, ic_user):
    am = sender("alertmanager", resolve_to_monitoring=True)
    am.post(load("alertmanager_firing_grouped"))
    incident = Incident.objects.get()
    drive_to(incident, Status.IDENTIFIED, ic_user)

    only_one = load("alertmanager_resolved")
    only_one["alerts"][1]["status"] = "firing"
    only_one["alerts"][1]["endsAt"] = "0001-01-01T00:00:00Z"
    am.post(only_one)
    incident.refresh_from_db()
    assert incident.status == Status.IDENTIFIED  # one alert still fires

    am.post(load("alertmanager_resolved"))
    incident.refresh_from_db()
    assert incident.status == Status.MONITORING
    moved = incident.timeline.filter(kind=TimelineKind.STATUS_CHANGED).latest("id")
    assert moved.actor is None
    assert moved.data["to"] == "monitoring"
    assert "all alerts resolved" in moved.data["reason"]


def test_all_resolved_from_investigating_is_noted_not_moved(sender, catalog):
    am = sender("alertmanager", resolve_to_monitoring=True)
    am.post(load("alertmanager_firing"))
    resolved = load("alertmanager_resolved")
    resolved["alerts"] = resolved["alerts"][:1]
    am.post(resolved)

    incident = Incident.objects.get()
    assert incident.status == Status.INVESTIGATING
    note = incident.timeline.filter(kind=TimelineKind.NOTE).latest("id")
    assert "not moved to Monitoring" in note.text


def test_firing_again_after_the_incident_resolved_opens_a_new_one(sender, catalog, ic_user):
    am = sender("alertmanager")
    am.post(load("alertmanager_firing"))
    first = Incident.objects.get()
    resolved = load("alertmanager_resolved")
    resolved["alerts"] = resolved["alerts"][:1]
    am.post(resolved)
    drive_to(first, Status.RESOLVED, ic_user)

    am.post(load("alertmanager_firing"))
    assert Incident.objects.count() == 2
    second = Incident.objects.exclude(pk=first.pk).get()
    assert AlertGroup.objects.get().incident == second
    assert Alert.objects.get().incident == second


def test_an_open_incident_being_worked_on_keeps_receiving(sender, catalog, ic_user):
    am = sender("alertmanager")
    am.post(load("alertmanager_firing"))
    incident = Incident.objects.get()
    services.incident_acknowledge(actor=ic_user, incident_id=incident.pk)
    am.post(load("alertmanager_firing_grouped"))
    assert Incident.objects.count() == 1
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RECEIVED).count() == 2


def test_severity_mapping_is_per_integration(sender, catalog):
    am = sender("alertmanager", severity_map={"critical": "P2"})
    am.post(load("alertmanager_firing"))
    assert Incident.objects.get().severity == "P2"


def test_unknown_severity_takes_the_integration_default(sender, catalog):
    am = sender("alertmanager", default_severity="P4")
    payload = load("alertmanager_firing")
    payload["alerts"][0]["labels"]["severity"] = "page-someone"
    am.post(payload)
    assert Incident.objects.get().severity == "P4"


def test_a_start_in_the_future_is_detected_now(sender, catalog):
    am = sender("alertmanager")
    payload = load("alertmanager_firing")
    payload["alerts"][0]["startsAt"] = "2099-01-01T00:00:00Z"
    assert am.post(payload).status_code == 202
    incident = Incident.objects.get()
    assert incident.detected_at.year == datetime.now(UTC).year


def test_an_alert_firing_for_days_escalates_once_not_up_the_whole_ladder(sender, catalog):
    """The payload's alert started on 2026-11-27, days ago: the incident is detected then, and
    every rung of the P1 ladder and every first update is already past when it is declared.
    The first sweep pages the highest rung once, as a catch-up naming the others, and the
    updates already due with one reminder, instead of the whole chain at once."""
    sender("alertmanager").post(load("alertmanager_firing"))
    incident = Incident.objects.get()
    deadlines_fire_due()
    escalated = list(
        incident.timeline.filter(kind=TimelineKind.ESCALATED).values_list("text", flat=True)
    )
    assert sorted(text.split(":")[0] for text in escalated) == [
        "Escalated to CTO",  # the ladder's highest rung (5.1), once
        "Escalated to The IC's manager",  # the resolution target (5.2), not a rung
    ]
    (catch_up,) = [text for text in escalated if "(catch-up: " in text]
    assert "Backup on-call, Engineering Manager, VP Engineering already past" in catch_up
    assert incident.deadlines.filter(kind="escalation", status="skipped").count() == 3
    # The first minutes' reminders (Appendix A) likewise: each escalation to the manager
    # stands for the reminder before it.
    assert kinds(incident, TimelineKind.ROLES_REMINDER) == []
    roles = incident.timeline.filter(kind=TimelineKind.ROLES_ESCALATED).order_by("id")
    assert [e.data["what"] for e in roles] == ["ic", "assign"]
    assert all("reminder already past when planned, not sent)" in e.text for e in roles)
    (missed,) = incident.timeline.filter(kind=TimelineKind.COMMS_MISSED)
    assert missed.text.startswith("Declared after its first updates were due: ")
    assert deadlines_fire_due() == 0
