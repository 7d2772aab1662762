"""The incident page holds the role rules of issue 14 as the API does: a viewer takes no role,
the SRE lead's on-call override (with its reason) is offered to SRE leads only, only the IC
resolves, and a Technical Lead outside 3.2 is shown as a warning."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import AuditEvent, Incident, RoleAssignment
from incidents.states import AuditAction, Role, Status
from tests.factories import UserFactory, declare, drive_to, put_on_call, tick_resolution_criteria

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, incident):
    return reverse(f"dashboard:{name}", args=[incident.pk])


def held(incident):
    return list(
        RoleAssignment.objects.filter(incident=incident, relieved_at__isnull=True).values_list(
            "role", "user__username"
        )
    )


@pytest.fixture
def p4(ic):
    return declare(actor=ic, severity="P4", title="Footer link")


@pytest.fixture
def watcher(db):
    watcher = UserFactory(username="wally-viewer", groups=["viewer"])
    put_on_call(watcher)
    return watcher


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_a_viewer_cannot_be_given_a_role_on_the_page(client, ic, p4, watcher, headers):
    client.force_login(ic)
    response = client.post(
        url("assign-role", p4),
        {"role": "incident_commander", "username": watcher.username},
        **headers,
    )
    assert response.status_code == 400
    assert "wally-viewer is in the viewer group" in response.content.decode()
    assert held(p4) == []


def test_a_viewer_cannot_take_a_role_on_the_page(client, p4, watcher):
    client.force_login(watcher)
    response = client.post(url("assign-role", p4), {"role": "scribe", "username": watcher.username})
    assert response.status_code == 403
    assert held(p4) == []


def test_the_override_is_offered_to_sre_leads_only(client, ic, sre_lead, p4):
    client.force_login(ic)
    assert b"Override the on-call rule" not in client.get(url("incident", p4)).content
    client.force_login(sre_lead)
    assert b"Override the on-call rule" in client.get(url("incident", p4)).content


def test_an_sre_lead_overrides_on_the_page_with_a_reason(client, sre_lead, responder, p4):
    client.force_login(sre_lead)
    form = {"role": "incident_commander", "username": responder.username, "override": "on"}

    refused = client.post(url("assign-role", p4), {**form, "override_reason": " "}, **HTMX)
    assert refused.status_code == 400
    assert "override_reason is required" in refused.content.decode()
    assert held(p4) == []

    done = client.post(url("assign-role", p4), {**form, "override_reason": "on a swap"}, **HTMX)
    assert done.status_code == 200
    assert held(p4) == [("incident_commander", responder.username)]
    assert AuditEvent.objects.get(action=AuditAction.ROLE_ON_CALL_OVERRIDE).actor == sre_lead


def test_a_responder_posting_the_override_is_refused(client, responder, p4):
    client.force_login(responder)
    response = client.post(
        url("assign-role", p4),
        {
            "role": "incident_commander",
            "username": responder.username,
            "override": "on",
            "override_reason": "trust me",
        },
    )
    assert response.status_code == 403
    assert "Only SRE leads may override the on-call rule" in response.content.decode()
    assert held(p4) == []


def test_a_non_ic_sre_lead_cannot_resolve_from_the_page(client, ic, sre_lead, time_machine):
    incident = declare(actor=ic, severity="P2", title="Inference slow")
    incident = drive_to(incident, Status.MONITORING, ic)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    tick_resolution_criteria(incident, ic)
    time_machine.move_to(timezone.now() + timedelta(minutes=16), tick=False)
    client.force_login(sre_lead)

    page = client.get(url("incident", incident)).content.decode()
    assert 'data-transition="resolved"' not in page
    assert "take the Incident Commander role first" in page

    response = client.post(url("transition", incident), {"to": "resolved"})
    assert response.status_code == 403
    assert "Only the incident&#x27;s Incident Commander may resolve it" in response.content.decode()
    assert Incident.objects.get(pk=incident.pk).status == Status.MONITORING

    client.force_login(ic)
    assert client.post(url("transition", incident), {"to": "resolved"}).status_code == 302
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def test_a_technical_lead_outside_3_2_is_a_warning_on_the_page(client, ic, incident, responder):
    client.force_login(ic)
    response = client.post(
        url("assign-role", incident), {"role": "tech_lead", "username": responder.username}
    )
    assert response.status_code == 302  # assigned: 3.2 advises, it does not forbid
    page = client.get(url("incident", incident)).content.decode()
    assert "Role rules not met (reassign)" in page
    assert "Technical Lead: subject matter expert for the affected system" in page
