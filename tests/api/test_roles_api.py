"""Roles and resolution through the API (issue 14): "On-call engineer" is being on call, a
viewer holds no role, an SRE lead's override needs a reason and is audited, the IC alone
resolves, and the Technical Lead's fit (3.2) is a warning in the detail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import AuditEvent, RoleAssignment, Service, Team
from incidents.states import AuditAction, Role, Status
from tests.factories import UserFactory, declare, drive_to, put_on_call, tick_resolution_criteria

from .conftest import assert_error, incident_url

pytestmark = pytest.mark.django_db


def assign(api, actor, incident, **body):
    return api(actor).post(incident_url(incident, "roles"), body, format="json")


def held(incident):
    return list(
        RoleAssignment.objects.filter(incident=incident, relieved_at__isnull=True).values_list(
            "role", "user__username"
        )
    )


# --- 3.1 / 3.3: on call now, or an SRE lead's override ------------------------------------------
def test_the_security_lead_on_call_commands_a_p3(api, ic_user):
    security = Team.objects.get(slug="security")
    lead = UserFactory(rank="security_lead", groups=["security"], team=security)
    put_on_call(lead, security)
    incident = declare(
        actor=ic_user, severity="P3", services=[Service.objects.get(slug="authentication")]
    )
    response = assign(api, ic_user, incident, role="incident_commander", username=lead.username)
    assert response.status_code == 200, response.content
    assert response.json()["roles"][0]["username"] == lead.username


def test_off_call_p3_commander_is_a_400_naming_the_rule(api, ic_user, responder):
    incident = declare(actor=ic_user, severity="P3")
    body = assert_error(
        assign(api, ic_user, incident, role="incident_commander", username=responder.username),
        400,
    )
    assert body["rule"] == "P3 Incident Commander: On-call engineer"
    assert "is not on call now" in body["username"][0]
    assert held(incident) == []


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_a_viewer_holds_no_role_through_the_api(api, ic_user, viewer, role):
    incident = declare(actor=ic_user, severity="P4")
    put_on_call(viewer)
    body = assert_error(assign(api, ic_user, incident, role=role, username=viewer.username), 400)
    assert body["rule"] == "viewers hold no roles"
    assert body["username"] == [body["detail"]]
    # Nor may the viewer give themself one.
    assert_error(assign(api, viewer, incident, role=role, username=viewer.username), 403)
    assert held(incident) == []


def test_an_sre_lead_overrides_with_a_reason(api, ic_user, sre_lead, responder):
    incident = declare(actor=ic_user, severity="P3")
    response = assign(
        api,
        sre_lead,
        incident,
        role="incident_commander",
        username=responder.username,
        override=True,
        override_reason="wrote the scheduler",
    )
    assert response.status_code == 200, response.content
    assert held(incident) == [("incident_commander", responder.username)]
    audit = AuditEvent.objects.get(action=AuditAction.ROLE_ON_CALL_OVERRIDE)
    assert (audit.actor, audit.target_user) == (sre_lead, responder)
    assert audit.details["reason"] == "wrote the scheduler"
    timeline = api(sre_lead).get(incident_url(incident, "timeline")).json()
    [assigned] = [e for e in timeline if e["kind"] == "role_assigned"]
    assert assigned["data"]["override"]["reason"] == "wrote the scheduler"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_override_without_a_reason_is_a_400_naming_the_field(
    api, ic_user, sre_lead, responder, reason
):
    incident = declare(actor=ic_user, severity="P3")
    body = {"role": "incident_commander", "username": responder.username, "override": True}
    if reason is not None:
        body["override_reason"] = reason
    error = assert_error(assign(api, sre_lead, incident, **body), 400)
    assert "override_reason" in error
    assert "override_reason is required" in error["detail"]
    assert held(incident) == []
    assert not AuditEvent.objects.filter(action=AuditAction.ROLE_ON_CALL_OVERRIDE).exists()


def test_a_responder_may_not_override(api, ic_user, responder):
    incident = declare(actor=ic_user, severity="P3")
    error = assert_error(
        assign(
            api,
            responder,
            incident,
            role="incident_commander",
            username=responder.username,
            override=True,
            override_reason="I am free",
        ),
        403,
    )
    assert "Only SRE leads may override the on-call rule" in error["detail"]
    assert held(incident) == []


def test_override_is_for_assigning_not_relieving(api, ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P1")
    assign(api, ic_user, incident, role="sme", username=ic_user.username)
    error = assert_error(
        assign(
            api,
            sre_lead,
            incident,
            role="sme",
            username=ic_user.username,
            remove=True,
            override=True,
            override_reason="x",
        ),
        400,
    )
    assert "override" in error
    assert held(incident) == [("sme", ic_user.username)]


# --- 3.1 / 7.4: the IC declares resolved ---------------------------------------------------------
def ready_to_resolve(incident, ic, time_machine):
    drive_to(incident, Status.MONITORING, ic)
    tick_resolution_criteria(incident, ic)
    time_machine.move_to(timezone.now() + timedelta(minutes=16), tick=False)


def test_a_non_ic_sre_lead_cannot_resolve_through_the_api(api, ic_user, sre_lead, time_machine):
    incident = declare(actor=ic_user, severity="P2")
    assign(api, ic_user, incident, role="incident_commander", username=ic_user.username)
    ready_to_resolve(incident, ic_user, time_machine)
    detail = api(sre_lead).get(incident_url(incident)).json()
    assert Status.RESOLVED not in detail["allowed_transitions"]

    error = assert_error(
        api(sre_lead).post(incident_url(incident, "transition"), {"to": "resolved"}, format="json"),
        403,
    )
    assert "Only the incident's Incident Commander may resolve it" in error["detail"]
    assert api(sre_lead).get(incident_url(incident)).json()["status"] == Status.MONITORING

    # Taking the IC role (audited) is the way: then they may.
    taken = assign(api, sre_lead, incident, role="incident_commander", username=sre_lead.username)
    assert taken.status_code == 200, taken.content
    assert AuditEvent.objects.filter(action=AuditAction.ROLE_IC_TAKEN, actor=sre_lead).exists()
    response = api(sre_lead).post(
        incident_url(incident, "transition"), {"to": "resolved"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.RESOLVED


# --- 3.2: the Technical Lead's fit is a warning in the detail ------------------------------------
def test_the_detail_warns_about_a_technical_lead_outside_3_2(api, ic_user, responder):
    gateway = Service.objects.get(slug="api-gateway")
    incident = declare(actor=ic_user, severity="P2", services=[gateway])
    response = assign(api, ic_user, incident, role="tech_lead", username=responder.username)
    assert response.status_code == 200, response.content
    [warning] = response.json()["role_warnings"]
    assert warning.startswith("Technical Lead: subject matter expert for the affected system")
    gateway.experts.add(responder)
    assert api(ic_user).get(incident_url(incident)).json()["role_warnings"] == []


def test_the_services_catalog_lists_each_services_experts(api, responder):
    gateway = Service.objects.get(slug="api-gateway")
    gateway.experts.add(UserFactory(username="zed-expert"), UserFactory(username="amy-expert"))
    services = {s["slug"]: s for s in api(responder).get("/api/v1/services/").json()}
    assert services["api-gateway"]["experts"] == ["amy-expert", "zed-expert"]
    assert services["training"]["experts"] == []
    # The contract's fields are all still there.
    assert {"slug", "name", "team", "runbook"} <= set(services["training"])
