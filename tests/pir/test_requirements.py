"""Procedures 8.1: which incidents get a review, when it is due, who may create one."""

from datetime import timedelta

import pytest

from incidents import services as incident_services
from incidents.selectors import policy_for
from incidents.states import TimelineKind
from pir.models import PirTimelineEntry, PostIncidentReview
from pir.services import TIMELINE_COPY_SKIPS
from tests.factories import UserFactory, declare, drive_to

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("severity", ["P1", "P2"])
def test_resolving_creates_the_required_review_due_per_policy(resolved, severity):
    incident, ic = resolved(severity)
    pir = PostIncidentReview.objects.get(incident=incident)
    due_hours = policy_for(severity).pir_due_hours
    assert pir.required is True
    assert pir.status == "draft"
    assert pir.due_at == incident.resolved_at + timedelta(hours=due_hours)
    assert pir.author == ic
    created = incident.timeline.get(kind=TimelineKind.PIR_CREATED)
    assert created.data["pir"] == pir.pk
    # Recorded in the resolving transaction: right after the resolution, before anything else.
    resolved_event = incident.timeline.get(kind=TimelineKind.STATUS_CHANGED, data__to="resolved")
    assert created.pk > resolved_event.pk
    assert created.occurred_at == resolved_event.occurred_at


def test_the_due_times_follow_the_policy_in_force(resolved):
    policy = policy_for("P1")
    policy.pir_due_hours = 10
    policy.save()
    incident, _ic = resolved("P1")
    assert incident.pir.due_at == incident.resolved_at + timedelta(hours=10)


@pytest.mark.parametrize("severity", ["P3", "P4"])
def test_no_review_is_created_automatically_for_p3_and_p4(resolved, severity):
    incident, _ic = resolved(severity)
    assert not PostIncidentReview.objects.filter(incident=incident).exists()


def test_the_timeline_is_copied_with_source_event_ids(p1_pir):
    pir, _ic = p1_pir
    rows = list(pir.entries.order_by("occurred_at", "id"))
    events = list(
        pir.incident.timeline.exclude(kind__in=TIMELINE_COPY_SKIPS).order_by("occurred_at", "id")
    )
    assert [r.source_event_id for r in rows] == [e.pk for e in events]
    assert [r.text for r in rows] == [e.text for e in events]
    assert rows[-1].text.endswith("Resolved")


def test_reopened_and_re_resolved_incident_keeps_one_review(resolved):
    incident, ic = resolved("P1")
    pir = incident.pir
    first_rows = pir.entries.count()
    incident_services.incident_transition(
        actor=ic, incident_id=incident.pk, to="investigating", reason="errors are back"
    )
    incident = drive_to(incident, "resolved", ic)
    assert PostIncidentReview.objects.filter(incident=incident).count() == 1
    assert incident.timeline.filter(kind=TimelineKind.PIR_CREATED).count() == 1
    pir.refresh_from_db()
    # The new events were appended; due counts from the final resolution.
    assert pir.entries.count() > first_rows
    assert PirTimelineEntry.objects.filter(pir=pir, text__startswith="Reopened").exists()
    assert pir.due_at == incident.resolved_at + timedelta(hours=policy_for("P1").pir_due_hours)


def test_ic_creates_the_optional_p3_review_through_the_api(resolved, api):
    incident, ic = resolved("P3")
    response = api(ic).post("/api/v1/pirs/", {"incident": incident.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["required"] is False
    pir = PostIncidentReview.objects.get(pk=body["id"])
    assert pir.due_at == incident.resolved_at + timedelta(hours=policy_for("P3").pir_due_hours)
    assert incident.timeline.filter(kind=TimelineKind.PIR_CREATED).count() == 1
    again = api(ic).post("/api/v1/pirs/", {"incident": incident.pk}, format="json")
    assert again.status_code == 400
    assert again.json()["rule"] == "one post-incident review per incident"


def test_only_the_ic_or_an_sre_lead_creates_the_optional_review(resolved, api, responder, sre_lead):
    incident, _ic = resolved("P3")
    denied = api(responder).post("/api/v1/pirs/", {"incident": incident.pk}, format="json")
    assert denied.status_code == 403
    assert "Incident Commander" in denied.json()["detail"]
    allowed = api(sre_lead).post("/api/v1/pirs/", {"incident": incident.pk}, format="json")
    assert allowed.status_code == 201


def test_p4_has_no_review_and_the_refusal_quotes_the_rule(resolved, api):
    incident, ic = resolved("P4")
    response = api(ic).post("/api/v1/pirs/", {"incident": incident.pk}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["rule"] == "8.1 PIR Required for P4: No"
    assert "PIR Required: No" in body["detail"]


def test_a_review_follows_resolution(api):
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    incident = declare(actor=ic, severity="P3")
    response = api(ic).post("/api/v1/pirs/", {"incident": incident.pk}, format="json")
    assert response.status_code == 400
    assert "follows resolution" in response.json()["detail"]


def test_create_input_is_strict(api, ic_user):
    response = api(ic_user).post("/api/v1/pirs/", {"incident": 1, "severity": "P1"}, format="json")
    assert response.status_code == 400
    assert "severity" in response.json()["detail"]
