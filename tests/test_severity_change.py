"""Who may change an incident's severity (issue 12, finding 6): the incident's Incident
Commander or an SRE lead, through every entry point (API, admin); lowering it takes a reason;
the change and its reason are on the timeline; the IC is paged about a change someone else
made. The bystander downgrade of the issue: a P1 with 11 pending deadlines, a responder with
no role asks for P4 with no reason, and nothing changes."""

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import Deadline, Page, Service, TimelineEvent
from incidents.services.timers import deadlines_fire_due
from incidents.states import Role, TimelineKind
from tests.factories import UserFactory, declare, put_on_call
from tests.test_admin import _form_data

pytestmark = pytest.mark.django_db

RULE = "Only the incident's Incident Commander or an SRE lead may change its severity."


@pytest.fixture
def ic(db):
    return UserFactory(username="ivy-ic", rank="engineering_manager", groups=["incident_commander"])


@pytest.fixture
def p1(ic):
    """A P1 on api-gateway with ivy as its IC, its declaration notice fired: 9 deadlines
    (escalations and communication reminders) pending. Taking the IC role acknowledged it, so
    the two acknowledgement escalations of 5.1 are not among them; and 3 of its first minutes
    (the triage reminder, the other roles' reminder and escalation) and the 2 response times
    (5.3) of the contacts the open escalations would page (VP Engineering, CTO)."""
    incident = declare(
        actor=ic, title="Inference API down", services=[Service.objects.get(slug="api-gateway")]
    )
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    deadlines_fire_due(now=timezone.now())
    return incident


def pending(incident) -> list[tuple]:
    return sorted(
        Deadline.objects.filter(incident=incident, status="pending").values_list(
            "key", "due_at", "status"
        )
    )


def severity_events(incident):
    return list(TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.SEVERITY_CHANGED))


def patch(api, user, incident, body):
    return api(user).patch(f"/api/v1/incidents/{incident.pk}/", body, format="json")


# --- the bystander -------------------------------------------------------------------------------
def test_a_responder_with_no_role_cannot_downgrade_a_p1(api, p1, responder):
    before = pending(p1)
    assert len(before) == 9 + 3 + 2

    response = patch(api, responder, p1, {"severity": "P4"})

    assert response.status_code == 403, response.content
    assert response.json()["detail"] == RULE
    p1.refresh_from_db()
    assert p1.severity == "P1"
    assert pending(p1) == before  # all still pending, none moved
    assert severity_events(p1) == []


@pytest.mark.parametrize("severity", ["P4", "P2"])
def test_a_reason_does_not_make_a_bystander_the_ic(api, p1, responder, severity):
    response = patch(api, responder, p1, {"severity": severity, "reason": "looks minor"})
    assert response.status_code == 403
    assert response.json()["detail"] == RULE
    p1.refresh_from_db()
    assert p1.severity == "P1"


def test_an_incident_commander_who_is_not_this_incidents_ic_is_refused(api, p1):
    other_ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    response = patch(api, other_ic, p1, {"severity": "P2", "reason": "smaller than thought"})
    assert response.status_code == 403
    assert response.json()["detail"] == RULE


def test_a_bystander_cannot_raise_it_either(api, ic, responder):
    p3 = declare(actor=ic, severity="P3")
    response = patch(api, responder, p3, {"severity": "P1"})
    assert response.status_code == 403
    p3.refresh_from_db()
    assert p3.severity == "P3"


# --- the IC and SRE leads ------------------------------------------------------------------------
def test_the_ic_downgrading_without_a_reason_gets_400_naming_it(api, p1, ic):
    before = pending(p1)
    for reason in ("", "   "):
        response = patch(api, ic, p1, {"severity": "P4", "reason": reason})
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["rule"] == "a lower severity needs a reason"
        assert body["reason"] == [body["detail"]]
        assert "reason is required to lower the severity from P1 to P4" in body["detail"]
    p1.refresh_from_db()
    assert p1.severity == "P1"
    assert pending(p1) == before


def test_the_ic_downgrades_with_a_reason_and_it_is_on_the_timeline(
    api, p1, ic, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = patch(api, ic, p1, {"severity": "P3", "reason": "one region only"})
    assert response.status_code == 200, response.content
    assert response.json()["severity"] == "P3"
    (event,) = severity_events(p1)
    assert event.actor == ic
    assert event.text.startswith("Severity P1 → P3: one region only")
    assert event.data["reason"] == "one region only"
    assert "ic_paged" not in event.data  # the IC made it: nobody to tell
    assert not Page.objects.filter(incident=p1, rule_key__startswith="severity:").exists()


def test_raising_needs_no_reason(api, ic):
    p3 = declare(actor=ic, severity="P3")
    put_on_call(ic)  # the P3 IC is the on-call engineer (3.1)
    services.incident_assign_role(
        actor=ic, incident_id=p3.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    response = patch(api, ic, p3, {"severity": "P1"})
    assert response.status_code == 200, response.content
    assert response.json()["severity"] == "P1"


def test_an_sre_lead_downgrades_and_the_ic_is_paged(
    api, p1, ic, sre_lead, eager_tasks, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = patch(api, sre_lead, p1, {"severity": "P2", "reason": "errors down to 5%"})
    assert response.status_code == 200, response.content

    (event,) = severity_events(p1)
    assert event.actor == sre_lead
    assert "errors down to 5%" in event.text and "IC ivy-ic paged" in event.text
    (page,) = Page.objects.filter(incident=p1, rule_key__startswith="severity:")
    assert event.data["ic_paged"] == {"user": "ivy-ic", "pages": [page.pk]}
    assert (page.recipient, page.status) == (ic, "sent")
    (mail,) = [m for m in mailoutbox if m.to == [ic.email]]
    assert f"severity changed P1 → P2 by {sre_lead.username}: errors down to 5%" in mail.body


def test_a_viewer_is_refused_as_before(api, p1, viewer):
    response = patch(api, viewer, p1, {"severity": "P4", "reason": "x"})
    assert response.status_code == 403
    p1.refresh_from_db()
    assert p1.severity == "P1"


# --- admin --------------------------------------------------------------------------------------
def test_admin_downgrade_without_a_reason_is_refused_next_to_the_field(client, p1, sre_lead):
    client.force_login(sre_lead)
    url = reverse("admin:incidents_incident_change", args=[p1.pk])
    form = _form_data(client.get(url))
    response = client.post(url, {**form, "severity": "P4", "reason": ""})
    assert response.status_code == 200  # the form again, with the error
    assert "reason is required to lower the severity from P1 to P4" in response.content.decode()
    p1.refresh_from_db()
    assert p1.severity == "P1"

    response = client.post(url, {**form, "severity": "P4", "reason": "false alarm"})
    assert response.status_code == 302
    p1.refresh_from_db()
    assert p1.severity == "P4"
    (event,) = severity_events(p1)
    assert event.data["reason"] == "false alarm"
