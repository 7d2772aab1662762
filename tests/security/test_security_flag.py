"""An incident becomes a security incident after declaration, or stops being one (procedures
2.1, 5.1): who may do it, with a reason; becoming one restricts it at once (the existing
visibility rule), pages the Security Lead at once, and is audited and on the timeline; ceasing
to be one takes the security group or an SRE lead, a reason, and is audited. The same rules at
every door: the API, the incident page (a forged POST too) and the admin."""

from datetime import UTC, datetime

import pytest

from incidents import services
from incidents.errors import RuleViolation
from incidents.models import AuditEvent, Deadline, EscalationRule, Incident, Page, TimelineEvent
from incidents.services.timers import deadlines_fire_due
from incidents.states import AuditAction, Role, TimelineKind
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
TITLE = "Gateway 502s after the Tuesday deploy"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def people(db):
    return {
        "ic": UserFactory(
            username="ivy-ic", rank="engineering_manager", groups=["incident_commander"]
        ),
        "declarer": UserFactory(username="dan-declarer", groups=["responder"]),
        "responder": UserFactory(username="rob-responder", groups=["responder"]),
        "viewer": UserFactory(username="val-viewer", groups=["viewer"]),
        "sre": UserFactory(username="sid-sre", groups=["sre_lead"], is_staff=True),
        "sec": UserFactory(username="sec-member", groups=["security"]),
        "lead": UserFactory(username="sam-seclead", rank="security_lead", groups=["security"]),
    }


@pytest.fixture
def incident(people, clock):
    """An ordinary P2 declared by a responder; its IC is assigned."""
    incident = declare(actor=people["declarer"], severity="P2", title=TITLE)
    services.incident_assign_role(
        actor=people["declarer"],
        incident_id=incident.pk,
        role=Role.INCIDENT_COMMANDER,
        user=people["ic"],
    )
    return incident


def flag(api, user, incident, security=True, reason="customer data may be exposed"):
    return api(user).post(
        f"/api/v1/incidents/{incident.pk}/security/",
        {"security": security, "reason": reason},
        format="json",
    )


def security_pages(incident) -> list[str]:
    rule = EscalationRule.objects.get(trigger="security")
    return sorted(
        Page.objects.filter(incident=incident, rule_key=f"rule:{rule.pk}").values_list(
            "recipient__username", flat=True
        )
    )


def security_events(incident) -> list[TimelineEvent]:
    return list(incident.timeline.filter(kind=TimelineKind.SECURITY_CHANGED).order_by("id"))


# --- becoming one ---------------------------------------------------------------------------------
def test_the_ic_makes_it_a_security_incident_restricted_paged_audited_and_on_the_timeline(
    incident, people, api, clock
):
    assert api(people["responder"]).get(f"/api/v1/incidents/{incident.pk}/").status_code == 200

    response = flag(api, people["ic"], incident)

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "id": incident.pk,
        "reference": incident.reference,
        "security": True,
        "visible_to_you": True,  # the IC holds a role
    }
    incident.refresh_from_db()
    assert incident.security
    # Restricted at once, through the one visibility rule: a 404 like a missing id.
    assert api(people["responder"]).get(f"/api/v1/incidents/{incident.pk}/").status_code == 404
    listed = api(people["responder"]).get("/api/v1/incidents/").json()
    assert incident.pk not in [row["id"] for row in listed["results"]]
    assert api(people["sec"]).get(f"/api/v1/incidents/{incident.pk}/").status_code == 200
    # On the timeline, with the reason.
    (event,) = security_events(incident)
    assert event.actor == people["ic"]
    assert event.text == (
        "Made a security incident (restricted) by ivy-ic: customer data may be exposed"
    )
    assert event.data["security"] is True
    # Audited, naming the incident by its reference only (SRE leads outside the security
    # group read the audit log).
    (row,) = AuditEvent.objects.filter(action=AuditAction.INCIDENT_RESTRICTED)
    assert (row.actor, row.target_type, row.target_id, row.target_repr) == (
        people["ic"],
        "incidents.incident",
        str(incident.pk),
        incident.reference,
    )
    assert row.details == {"incident": incident.pk, "timeline_event": event.pk}
    assert TITLE not in str(row.details) + row.target_repr
    # 5.1 "Any security incident: Security Lead immediately": due now, paged by the next sweep.
    deadline = Deadline.objects.get(
        incident=incident, key=f"rule:{EscalationRule.objects.get(trigger='security').pk}"
    )
    assert deadline.due_at <= T0 and deadline.status == "pending"
    deadlines_fire_due(now=T0)
    assert security_pages(incident) == ["sam-seclead"]
    assert incident.timeline.filter(
        kind=TimelineKind.ESCALATED, text__startswith="Escalated to Security Lead: Security"
    ).exists()


def test_an_sre_lead_may_and_then_no_longer_sees_it(incident, people, api):
    response = flag(api, people["sre"], incident)
    assert response.status_code == 200
    assert response.json()["visible_to_you"] is False
    assert api(people["sre"]).get(f"/api/v1/incidents/{incident.pk}/").status_code == 404


def test_the_security_group_may(incident, people, api):
    assert flag(api, people["sec"], incident).status_code == 200


@pytest.mark.parametrize("who", ["responder", "viewer", "declarer"])
def test_nobody_else_may_make_it_one(incident, people, api, who):
    response = flag(api, people[who], incident)
    assert response.status_code == 403
    assert "Incident Commander, an SRE lead or the security group" in response.json()["detail"]
    incident.refresh_from_db()
    assert not incident.security
    assert not AuditEvent.objects.filter(action=AuditAction.INCIDENT_RESTRICTED).exists()
    assert security_events(incident) == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(incident, people, api, reason):
    response = flag(api, people["ic"], incident, reason=reason)
    assert response.status_code == 400
    incident.refresh_from_db()
    assert not incident.security
    assert not AuditEvent.objects.filter(action=AuditAction.INCIDENT_RESTRICTED).exists()


def test_the_same_flag_again_is_refused_and_changes_nothing(incident, people, api):
    assert flag(api, people["ic"], incident).status_code == 200
    again = flag(api, people["ic"], incident)
    assert again.status_code == 400
    assert "already a security incident" in again.json()["detail"]
    assert len(security_events(incident)) == 1


def test_becoming_one_again_after_the_rule_fired_pages_the_security_lead_again(
    incident, people, clock
):
    services.incident_security_set(
        actor=people["ic"], incident_id=incident.pk, security=True, reason="looks like a breach"
    )
    deadlines_fire_due(now=T0)
    assert security_pages(incident) == ["sam-seclead"]
    services.incident_security_set(
        actor=people["lead"], incident_id=incident.pk, security=False, reason="a bad deploy"
    )
    services.incident_security_set(
        actor=people["lead"], incident_id=incident.pk, security=True, reason="it was a breach"
    )
    again = Page.objects.filter(incident=incident, rule_key__startswith="security:")
    assert list(again.values_list("recipient__username", flat=True)) == ["sam-seclead"]
    assert security_events(incident)[-1].data["pages"] == list(again.values_list("pk", flat=True))


# --- ceasing to be one ----------------------------------------------------------------------------
@pytest.fixture
def restricted(incident, people):
    services.incident_security_set(
        actor=people["ic"], incident_id=incident.pk, security=True, reason="keys may be exposed"
    )
    return incident


def test_the_security_group_makes_it_ordinary_again_audited(restricted, people, api):
    response = flag(api, people["sec"], restricted, security=False, reason="a bad deploy")
    assert response.status_code == 200
    assert response.json()["security"] is False
    assert api(people["responder"]).get(f"/api/v1/incidents/{restricted.pk}/").status_code == 200
    (row,) = AuditEvent.objects.filter(action=AuditAction.INCIDENT_UNRESTRICTED)
    assert row.actor == people["sec"] and row.target_repr == restricted.reference
    assert security_events(restricted)[-1].text == (
        "No longer a security incident (visible to everyone) by sec-member: a bad deploy"
    )
    rule = EscalationRule.objects.get(trigger="security")
    assert Deadline.objects.get(incident=restricted, key=f"rule:{rule.pk}").status == "cancelled"


def test_an_sre_lead_who_can_see_it_makes_it_ordinary_again(restricted, people, api):
    services.incident_assign_role(
        actor=people["ic"], incident_id=restricted.pk, role=Role.SCRIBE, user=people["sre"]
    )
    assert flag(api, people["sre"], restricted, security=False).status_code == 200


def test_the_ic_outside_the_security_group_may_not_make_it_ordinary_again(restricted, people, api):
    response = flag(api, people["ic"], restricted, security=False, reason="not a breach")
    assert response.status_code == 403
    assert "security group or an SRE lead" in response.json()["detail"]
    restricted.refresh_from_db()
    assert restricted.security
    assert not AuditEvent.objects.filter(action=AuditAction.INCIDENT_UNRESTRICTED).exists()


def test_outsiders_cannot_even_find_it(restricted, people, api):
    for who in ("responder", "sre"):
        response = flag(api, people[who], restricted, security=False, reason="let me in")
        assert response.status_code == 404
        assert TITLE not in response.content.decode()
    restricted.refresh_from_db()
    assert restricted.security


def test_the_service_refuses_without_a_reason():
    with pytest.raises(RuleViolation) as refused:
        services.incident_security_set(actor=None, incident_id=1, security=True, reason=" ")
    assert refused.value.extra["field"] == "reason"


# --- the incident page ----------------------------------------------------------------------------
def test_the_incident_page_offers_the_button_to_those_allowed(incident, people, client):
    url = f'action="/incidents/{incident.pk}/security/"'
    client.force_login(people["ic"])
    assert url in client.get(f"/incidents/{incident.pk}/").content.decode()
    client.force_login(people["responder"])
    assert url not in client.get(f"/incidents/{incident.pk}/").content.decode()


def test_the_ic_makes_it_one_on_the_incident_page(incident, people, client):
    client.force_login(people["ic"])
    response = client.post(
        f"/incidents/{incident.pk}/security/", {"security": "true", "reason": "token leak"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"/incidents/{incident.pk}/")
    incident.refresh_from_db()
    assert incident.security
    assert AuditEvent.objects.filter(action=AuditAction.INCIDENT_RESTRICTED).count() == 1


def test_an_sre_lead_who_loses_sight_of_it_is_sent_to_the_board(incident, people, client):
    client.force_login(people["sre"])
    response = client.post(
        f"/incidents/{incident.pk}/security/", {"security": "true", "reason": "token leak"}
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_page_post_without_a_reason_shows_the_error_and_changes_nothing(incident, people, client):
    client.force_login(people["ic"])
    response = client.post(f"/incidents/{incident.pk}/security/", {"security": "true"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    incident.refresh_from_db()
    assert not incident.security


def test_a_forged_page_post_is_refused(incident, people, client):
    """A responder has no button, and forging the POST changes nothing; once restricted, an
    outsider's forged POST to make it ordinary finds nothing (404)."""
    client.force_login(people["responder"])
    response = client.post(
        f"/incidents/{incident.pk}/security/", {"security": "true", "reason": "forged"}
    )
    assert response.status_code == 403
    incident.refresh_from_db()
    assert not incident.security
    services.incident_security_set(
        actor=people["ic"], incident_id=incident.pk, security=True, reason="token leak"
    )
    response = client.post(
        f"/incidents/{incident.pk}/security/", {"security": "false", "reason": "forged"}
    )
    assert response.status_code == 404
    incident.refresh_from_db()
    assert incident.security


def test_the_page_needs_the_csrf_token(incident, people):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people["ic"])
    response = client.post(
        f"/incidents/{incident.pk}/security/", {"security": "true", "reason": "x"}
    )
    assert response.status_code == 403
    incident.refresh_from_db()
    assert not incident.security


# --- the admin ------------------------------------------------------------------------------------
def _admin_form(client, incident) -> dict:
    from tests.test_admin import _form_data

    return _form_data(client.get(f"/admin/incidents/incident/{incident.pk}/change/"))


def test_an_sre_lead_makes_it_one_in_the_admin_with_a_reason(incident, people, client):
    client.force_login(people["sre"])
    data = _admin_form(client, incident)
    data["security"] = "on"
    refused = client.post(f"/admin/incidents/incident/{incident.pk}/change/", data)
    assert refused.status_code == 200
    assert "A reason is required to change the flag." in refused.content.decode()
    incident.refresh_from_db()
    assert not incident.security

    data["security_reason"] = "WAF saw exfiltration"
    response = client.post(f"/admin/incidents/incident/{incident.pk}/change/", data)
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.security
    (row,) = AuditEvent.objects.filter(action=AuditAction.INCIDENT_RESTRICTED)
    assert row.actor == people["sre"]
    assert security_events(incident)[0].data["reason"] == "WAF saw exfiltration"


def test_the_admin_shows_the_flag_read_only_to_those_who_may_not_change_it(
    restricted, people, client
):
    """An SRE lead holding a role on a restricted incident may make it ordinary again; the
    security group approves public words there. A forged admin POST by an SRE lead of the
    public words changes nothing."""
    services.incident_assign_role(
        actor=people["ic"], incident_id=restricted.pk, role=Role.SCRIBE, user=people["sre"]
    )
    client.force_login(people["sre"])
    page = client.get(f"/admin/incidents/incident/{restricted.pk}/change/")
    form = page.context["adminform"].form
    assert "security" in form.fields and "public_title" not in form.fields
    data = _admin_form(client, restricted)
    data.update(public_title="Nothing to see", public_text="All fine.")
    response = client.post(f"/admin/incidents/incident/{restricted.pk}/change/", data)
    assert response.status_code == 302  # the read-only fields are ignored
    restricted.refresh_from_db()
    assert restricted.public_title == "" and restricted.public_approved_at is None


def test_a_superuser_approves_public_words_in_the_admin(restricted, client):
    """The admin is the SRE leads' (and superusers'); the security group approves on the
    incident page and through the API."""
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    data = _admin_form(client, restricted)
    data.update(public_title="Sign-in disruption", public_text="")
    refused = client.post(f"/admin/incidents/incident/{restricted.pk}/change/", data)
    assert refused.status_code == 200
    assert "public_text must not be empty" in refused.content.decode()
    data["public_text"] = "We are investigating."
    response = client.post(f"/admin/incidents/incident/{restricted.pk}/change/", data)
    assert response.status_code == 302
    restricted.refresh_from_db()
    assert (restricted.public_title, restricted.public_approved_by) == (
        "Sign-in disruption",
        admin,
    )


def test_declared_security_incidents_show_in_the_schema(api, people):
    schema = api(people["sre"]).get("/api/schema/?format=json").json()
    assert "/api/v1/incidents/{id}/security/" in schema["paths"]
    assert "/api/v1/incidents/{id}/public-text/" in schema["paths"]


def test_nothing_changes_for_a_missing_incident(people, api):
    response = flag(api, people["lead"], Incident(pk=987654))
    assert response.status_code == 404


def test_admin_staff_who_may_not_change_the_flag_see_it_read_only(incident, client):
    """Someone given the incident admin's permissions by hand, neither SRE lead, security
    member nor this incident's IC: the flag is shown, not offered, and a forged POST of it
    changes nothing."""
    from django.contrib.auth.models import Permission

    clerk = UserFactory(username="clerk", groups=["responder"], is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="incidents", codename__in=["view_incident", "change_incident"]
        )
    )
    client.force_login(clerk)
    page = client.get(f"/admin/incidents/incident/{incident.pk}/change/")
    assert page.status_code == 200
    assert "security" not in page.context["adminform"].form.fields
    data = _admin_form(client, incident)
    data.update(security="on", security_reason="forged")
    client.post(f"/admin/incidents/incident/{incident.pk}/change/", data)
    incident.refresh_from_db()
    assert not incident.security
    assert not AuditEvent.objects.filter(action=AuditAction.INCIDENT_RESTRICTED).exists()
