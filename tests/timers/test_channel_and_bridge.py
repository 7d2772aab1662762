"""The incident's channel and bridge (issue 14, item 8): Appendix A "Close incident channel
after 24h" is a deadline planned at resolution that records the closure (reopening cancels it,
or reopens a closed channel); 6.1's bridge follows the severity's policy (P1 video always, P2
voice recommended, P3/P4 none unless the IC asks), and follows severity changes."""

from datetime import timedelta

import pytest

from incidents import services
from incidents.models import ChecklistItem, Deadline, Incident, Page, TimelineEvent
from incidents.selectors import policy_for
from incidents.services.paging import pages_build
from incidents.states import Checklist, Role, TimelineKind
from tests.factories import UserFactory, declare, drive_to
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db

BRIDGE = "https://meet.tensafe.io/incident/"


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def resolved(ic, gateway, **fields) -> Incident:
    incident = declare(actor=ic, services=gateway, **fields)
    drive_to(incident, "resolved", ic)
    incident.refresh_from_db()
    return incident


def close_deadline(incident) -> Deadline:
    return Deadline.objects.get(incident=incident, key="channel:close")


# --- Appendix A: close the channel 24 h after resolution ---------------------------------------
def test_the_channel_closes_24_hours_after_resolution(
    org, ic, gateway, frozen, sweep, procedure_kinds
):
    incident = resolved(ic, gateway)
    deadline = close_deadline(incident)
    assert deadline.due_at == incident.resolved_at + hours(24)
    assert deadline.data["label"] == (
        f"Close the incident channel {incident.channel_name} (24 h after resolution, Appendix A)"
    )

    sweep(incident.resolved_at + hours(24) - timedelta(seconds=1))
    incident.refresh_from_db()
    assert incident.channel_closed_at is None
    sweep(incident.resolved_at + hours(24))

    incident.refresh_from_db()
    assert incident.channel_closed_at == incident.resolved_at + hours(24)
    (event,) = TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.CHANNEL_CLOSED)
    assert event.text == (
        f"Incident channel {incident.channel_name} closed, 24 h after resolution (Appendix A)"
    )
    assert event.data["ticked"] == ["Close incident channel after 24h"]
    item = ChecklistItem.objects.get(incident=incident, checklist=Checklist.IC, key="close_channel")
    assert item.done and item.done_at == incident.channel_closed_at and item.done_by is None


def test_reopening_before_the_closure_cancels_it(org, ic, gateway, frozen, sweep, procedure_kinds):
    incident = resolved(ic, gateway)
    services.incident_transition(actor=ic, incident_id=incident.pk, to="investigating", reason="x")
    assert close_deadline(incident).status == "cancelled"
    sweep(T0 + hours(48))
    incident.refresh_from_db()
    assert incident.channel_closed_at is None
    assert not TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.CHANNEL_CLOSED)


def test_reopening_a_closed_channel_reopens_it_and_the_next_resolution_closes_it_again(
    org, ic, gateway, frozen, sweep, procedure_kinds
):
    incident = resolved(ic, gateway)
    sweep(incident.resolved_at + hours(24))
    frozen.move_to(incident.resolved_at + hours(25), tick=False)
    services.incident_transition(
        actor=ic, incident_id=incident.pk, to="investigating", reason="errors are back"
    )
    incident.refresh_from_db()
    assert incident.channel_closed_at is None
    reopened = TimelineEvent.objects.get(incident=incident, kind=TimelineKind.REOPENED)
    assert reopened.data["channel_reopened"] is True
    assert f"channel {incident.channel_name} reopened" in reopened.text

    drive_to(incident, "resolved", ic)
    incident.refresh_from_db()
    # the key fired once already: each deadline fires at most once per incident
    assert close_deadline(incident).status == "fired"
    assert incident.channel_closed_at is None


def test_the_hours_are_the_policy_an_sre_lead_sets(
    api, sre_lead, org, ic, gateway, frozen, procedure_kinds
):
    response = api(sre_lead).patch(
        "/api/v1/policy/", {"channel_close_after_hours": 48}, format="json"
    )
    assert response.status_code == 200, response.content
    incident = resolved(ic, gateway)
    assert close_deadline(incident).due_at == incident.resolved_at + hours(48)
    assert "(48 h after resolution" in close_deadline(incident).data["label"]


# --- 6.1: the bridge follows the severity -------------------------------------------------------
@pytest.mark.parametrize(
    ("severity", "has_bridge", "label"),
    [
        ("P1", True, "Video bridge (6.1: always for P1)"),
        ("P2", True, "Voice bridge (6.1: recommended for P2)"),
        ("P3", False, "No bridge (6.1: P3 has none unless the IC asks for one)"),
        ("P4", False, "No bridge (6.1: P4 has none unless the IC asks for one)"),
    ],
)
def test_the_bridge_at_declaration_follows_the_severity(
    api, org, ic, gateway, frozen, severity, has_bridge, label
):
    incident = declare(actor=ic, severity=severity, services=gateway)
    expected = BRIDGE + incident.channel_name.lstrip("#") if has_bridge else ""
    assert incident.bridge_url == expected
    body = api(ic).get(f"/api/v1/incidents/{incident.pk}/").json()
    assert body["bridge_url"] == expected
    assert body["bridge"]["url"] == expected
    assert body["bridge"]["label"] == label
    declared = TimelineEvent.objects.get(incident=incident, kind=TimelineKind.DECLARED)
    assert declared.data["bridge_url"] == expected


def ic_of(incident, user, by):
    services.incident_assign_role(
        actor=by, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=user
    )


@pytest.fixture
def p3_ic(on_call_responder):
    """The engineer on call (a responder), who may command P3/P4 incidents (3.1)."""
    return on_call_responder


def test_the_ic_asks_for_a_bridge_on_a_p3(api, org, ic, p3_ic, gateway, frozen):
    incident = declare(actor=ic, severity="P3", services=gateway)
    ic_of(incident, p3_ic, by=ic)
    before = api(p3_ic).get(f"/api/v1/incidents/{incident.pk}/").json()["bridge"]
    assert before["can_request"] is True

    response = api(p3_ic).post(f"/api/v1/incidents/{incident.pk}/bridge/")

    assert response.status_code == 200, response.content
    url = BRIDGE + incident.channel_name.lstrip("#")
    assert response.json()["bridge"] == {
        "url": url,
        "setting": "none",
        "label": "Bridge (opened at the IC's request)",
        "requested_at": response.json()["bridge"]["requested_at"],
        "can_request": False,
    }
    assert response.json()["bridge_url"] == url
    (event,) = TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.BRIDGE_OPENED)
    assert event.actor == p3_ic and event.text.endswith(url)
    again = api(p3_ic).post(f"/api/v1/incidents/{incident.pk}/bridge/")
    assert again.status_code == 200
    assert again.json()["bridge"]["url"] == url
    assert (
        TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.BRIDGE_OPENED).count()
        == 1
    )


@pytest.mark.parametrize("who", ["viewer", "responder"])
def test_only_the_ic_or_an_sre_lead_asks_for_a_bridge(
    api, org, ic, p3_ic, gateway, frozen, who, viewer, responder, sre_lead
):
    incident = declare(actor=ic, severity="P4", services=gateway)
    ic_of(incident, p3_ic, by=ic)
    stranger = {"viewer": viewer, "responder": responder}[who]
    assert (
        api(stranger).get(f"/api/v1/incidents/{incident.pk}/").json()["bridge"]["can_request"]
        is False
    )
    events_before = TimelineEvent.objects.filter(incident=incident).count()

    response = api(stranger).post(f"/api/v1/incidents/{incident.pk}/bridge/")

    assert response.status_code == 403, response.content
    assert "Incident Commander" in response.json()["detail"]
    incident.refresh_from_db()
    assert incident.bridge_url == "" and incident.bridge_requested_at is None
    assert TimelineEvent.objects.filter(incident=incident).count() == events_before
    assert api(sre_lead).post(f"/api/v1/incidents/{incident.pk}/bridge/").status_code == 200


def test_a_resolved_incident_gets_no_bridge(api, org, ic, p3_ic, gateway, frozen):
    incident = declare(actor=ic, severity="P3", services=gateway)
    drive_to(incident, "resolved", p3_ic)
    response = api(p3_ic).post(f"/api/v1/incidents/{incident.pk}/bridge/")
    assert response.status_code == 409, response.content
    assert "resolved" in response.json()["detail"]
    incident.refresh_from_db()
    assert incident.bridge_url == ""


def test_raising_the_severity_opens_the_bridge_and_lowering_closes_it(
    org, ic, p3_ic, gateway, frozen
):
    incident = declare(actor=ic, severity="P3", services=gateway)
    ic_of(incident, p3_ic, by=ic)
    ic = p3_ic  # the IC changes the severity
    services.incident_update(actor=ic, incident_id=incident.pk, severity="P1")
    incident.refresh_from_db()
    url = BRIDGE + incident.channel_name.lstrip("#")
    assert incident.bridge_url == url
    raised = TimelineEvent.objects.get(incident=incident, kind=TimelineKind.SEVERITY_CHANGED)
    assert f"Video bridge opened (6.1: always for P1): {url}" in raised.text
    assert raised.data["bridge"] == {
        "url": url,
        "change": f"Video bridge opened (6.1: always for P1): {url}",
    }
    assert ".." not in raised.text

    services.incident_update(actor=ic, incident_id=incident.pk, severity="P2", reason="partial")
    incident.refresh_from_db()
    assert incident.bridge_url == url  # P2 keeps it: a voice bridge is recommended
    services.incident_update(actor=ic, incident_id=incident.pk, severity="P3", reason="workaround")
    incident.refresh_from_db()
    assert incident.bridge_url == ""
    lowered = TimelineEvent.objects.filter(
        incident=incident, kind=TimelineKind.SEVERITY_CHANGED
    ).last()
    assert "Bridge closed (6.1: none for P3 unless the IC asks for one)" in lowered.text


def test_a_bridge_the_ic_asked_for_stays_when_the_severity_drops(org, ic, p3_ic, gateway, frozen):
    incident = declare(actor=ic, severity="P3", services=gateway)
    ic_of(incident, p3_ic, by=ic)
    ic = p3_ic
    services.incident_bridge_request(actor=ic, incident_id=incident.pk)
    services.incident_update(actor=ic, incident_id=incident.pk, severity="P1")
    services.incident_update(actor=ic, incident_id=incident.pk, severity="P4", reason="cosmetic")
    incident.refresh_from_db()
    assert incident.bridge_url == BRIDGE + incident.channel_name.lstrip("#")


def test_the_bridge_setting_is_the_policy_an_sre_lead_sets(api, sre_lead, org, ic, gateway):
    assert declare(actor=ic, severity="P3", services=gateway).bridge_url == ""
    response = api(sre_lead).patch(
        "/api/v1/policy/", {"severities": {"P3": {"bridge": "recommended"}}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert policy_for("P3").bridge == "recommended"
    incident = declare(actor=ic, severity="P3", services=gateway)
    assert incident.bridge_url == BRIDGE + incident.channel_name.lstrip("#")


def test_pages_say_when_there_is_no_bridge(org, ic, gateway, frozen):
    """A page's "Bridge:" line is never an empty link."""
    incident = declare(actor=ic, severity="P3", services=gateway)
    someone = UserFactory(username="someone", email="someone@example.com")
    pages_build(
        incident, deadline=None, rule_key="test", reason="test", people=[("user", someone)], at=T0
    )
    body = Page.objects.get(rule_key="test").body
    assert "Bridge: none (6.1: P3 has none unless the IC asks for one)" in body
