"""Escalation contacts' response times, procedures 5.3 (issue 14, item 12): a contact paged by
a 5.1 rule or a 5.4 request who has not acknowledged within their response time is late (API
detail, timeline, the IC told), and the next contact of 5.3 is offered to the IC as an action
that pages them. Acknowledging answers it; a viewer cannot take the step; drills send
nothing."""

from datetime import timedelta

import pytest

from incidents import services
from incidents.models import Deadline, Page, TimelineEvent
from incidents.states import Role, TimelineKind
from tests.factories import declare
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def detail(api, user, incident) -> dict:
    response = api(user).get(f"/api/v1/incidents/{incident.pk}/")
    assert response.status_code == 200, response.content
    return response.json()


def responses(api, user, incident) -> dict[str, dict]:
    return {r["contact"]: r for r in detail(api, user, incident)["escalation_responses"]}


def page_next(api, user, incident, response_id, **body):
    return api(user).post(
        f"/api/v1/incidents/{incident.pk}/escalation-responses/{response_id}/page-next/",
        body,
        format="json",
    )


def request(api, user, incident, target, reason) -> dict:
    """A 5.4 escalation request through the API."""
    response = api(user).post(
        f"/api/v1/incidents/{incident.pk}/escalate/",
        {"target": target, "reason": reason},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def events(incident, kind) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(incident=incident, kind=kind).order_by("id"))


@pytest.fixture
def acked_p1(org, ic, gateway, frozen, procedure_kinds):
    """A P1 on api-gateway acknowledged at once, ian its IC: the 5.1 rules left are the VP at
    30 min and the CTO at 60."""
    incident = declare(actor=ic, services=gateway)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    return incident


def test_a_contact_silent_past_their_response_time_is_late_and_the_next_is_offered(
    api, org, ic, acked_p1, sweep
):
    incident = acked_p1
    sweep(T0 + minutes(30))  # 5.1: P1 open > 30 min -> VP Engineering
    vp = responses(api, ic, incident)["vp_engineering"]
    assert vp["status"] == "awaiting"
    assert vp["people"] == [org.vp.username]
    assert vp["response_minutes"] == 15  # 5.3
    assert vp["due_at"].startswith((T0 + minutes(45)).isoformat()[:19])
    deadlines = detail(api, ic, incident)["deadlines"]
    (waiting,) = [d for d in deadlines if d["key"] == f"response:{vp['key']}"]
    assert waiting["label"] == (
        "VP Engineering to acknowledge the escalation (5.3: response time 15 min)"
    )
    assert waiting["due_at"] == vp["due_at"]
    assert vp["id"] is None  # nothing recorded yet: the fired escalation is the record

    sweep(T0 + minutes(45) - timedelta(seconds=1))
    assert responses(api, ic, incident)["vp_engineering"]["status"] == "awaiting"
    sweep(T0 + minutes(45))

    vp = responses(api, ic, incident)["vp_engineering"]
    assert vp["status"] == "late"
    assert vp["late_at"].startswith((T0 + minutes(45)).isoformat()[:19])
    assert vp["next_contact"] == {"role": "cto", "name": "CTO", "response_minutes": 15}
    (late,) = events(incident, TimelineKind.ESCALATION_LATE)
    assert late.text.startswith(
        "VP Engineering (victor-vp) has not acknowledged within 15 min (5.3); "
        "next step offered: page CTO — paged ian-ic"
    )
    assert late.data["next"] == "cto"
    ic_pages = Page.objects.filter(incident=incident, rule_key=f"response:{vp['key']}")
    assert [p.recipient for p in ic_pages] == [ic]

    response = page_next(api, ic, incident, vp["id"])

    assert response.status_code == 201, response.content
    assert response.json()["kind"] == TimelineKind.ESCALATION_REQUESTED
    assert response.json()["data"]["target"] == "cto"
    assert response.json()["data"]["reason"] == (
        "VP Engineering did not acknowledge within 15 min (5.3)"
    )
    cto_pages = Page.objects.filter(incident=incident, rule_key=response.json()["data"]["rule_key"])
    assert [p.recipient for p in cto_pages] == [org.cto]
    shown = responses(api, ic, incident)
    assert shown["vp_engineering"]["next_contact"] is None
    assert shown["vp_engineering"]["next_response"] == shown["cto"]["id"]
    assert shown["cto"]["status"] == "awaiting"
    assert shown["cto"]["due_at"].startswith((T0 + minutes(60)).isoformat()[:19])

    again = page_next(api, ic, incident, vp["id"])
    assert again.status_code == 409, again.content
    assert "taken already (CTO paged)" in again.json()["detail"]
    manual = Page.objects.filter(incident=incident, rule_key__startswith="manual:")
    assert [p.recipient for p in manual] == [org.cto]


def test_acknowledging_in_time_answers_the_contact(api, org, ic, acked_p1, sweep, frozen):
    incident = acked_p1
    sweep(T0 + minutes(30))
    frozen.move_to(T0 + minutes(38), tick=False)
    # The VP is no responder (no group): the page asked them to answer, so they may.
    response = api(org.vp).post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 200, response.content

    vp = responses(api, ic, incident)["vp_engineering"]
    assert vp["status"] == "acknowledged"
    assert vp["acknowledged_by"] == org.vp.username
    (answered,) = events(incident, TimelineKind.ESCALATION_ACKNOWLEDGED)
    assert answered.text == (
        "victor-vp acknowledged as VP Engineering, 8 min after the page (5.3: response time 15 min)"
    )
    assert Deadline.objects.get(incident=incident, key=f"response:{vp['key']}").status == (
        "cancelled"
    )
    sweep(T0 + minutes(50))
    assert events(incident, TimelineKind.ESCALATION_LATE) == []
    assert responses(api, ic, incident)["vp_engineering"]["status"] == "acknowledged"


def test_a_late_contact_who_answers_is_acknowledged_late_and_no_step_is_offered(
    api, org, ic, acked_p1, sweep, frozen
):
    incident = acked_p1
    sweep(T0 + minutes(30))
    sweep(T0 + minutes(45))
    frozen.move_to(T0 + minutes(47), tick=False)
    services.incident_acknowledge(actor=org.vp, incident_id=incident.pk)
    vp = responses(api, ic, incident)["vp_engineering"]
    assert (vp["status"], vp["next_contact"]) == ("acknowledged", None)
    assert vp["late_at"] is not None
    assert events(incident, TimelineKind.ESCALATION_ACKNOWLEDGED)[0].text.endswith("— late")
    response = page_next(api, ic, incident, vp["id"])
    assert response.status_code == 409
    assert "victor-vp" in response.json()["detail"]


def test_someone_who_was_not_paged_cannot_answer_for_the_contact(
    api, org, ic, acked_p1, sweep, viewer, responder
):
    incident = acked_p1
    sweep(T0 + minutes(30))
    assert api(viewer).post(f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 403
    assert api(responder).post(f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 200
    assert responses(api, ic, incident)["vp_engineering"]["status"] == "awaiting"


def test_an_acknowledgement_escalation_is_answered_by_anyones_acknowledgement(
    api, org, ic, gateway, frozen, sweep, procedure_kinds
):
    """5.1 "P1 not acknowledged in 5 min -> Backup on-call": what it asks for is an
    acknowledgement of the incident, whoever gives it."""
    incident = declare(actor=ic, services=gateway)
    sweep(T0 + minutes(5))
    assert responses(api, ic, incident)["backup_on_call"]["people"] == [org.backup.username]
    frozen.move_to(T0 + minutes(7), tick=False)
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)

    backup = responses(api, ic, incident)["backup_on_call"]
    assert (backup["status"], backup["acknowledged_by"]) == ("acknowledged", ic.username)
    sweep(T0 + minutes(20))
    assert events(incident, TimelineKind.ESCALATION_LATE) == []


def test_the_next_step_skips_who_the_ladder_pages_anyway(
    api, org, ic, gateway, frozen, sweep, procedure_kinds
):
    """The backup is late at 10 min, when 5.1 pages the Engineering Manager itself: the step
    offered is the VP."""
    incident = declare(actor=ic, services=gateway)
    sweep(T0 + minutes(5))
    sweep(T0 + minutes(10))
    (late,) = events(incident, TimelineKind.ESCALATION_LATE)
    assert late.data["next"] == "vp_engineering"
    backup = responses(api, ic, incident)["backup_on_call"]
    assert backup["next_contact"]["role"] == "vp_engineering"


def test_a_5_4_request_is_timed_too(api, org, ic, acked_p1, frozen, sweep):
    incident = acked_p1
    request(api, ic, incident, "security_lead", "possible key leak")
    lead = responses(api, ic, incident)["security_lead"]
    assert (lead["people"], lead["response_minutes"]) == ([org.security_lead.username], 5)
    sweep(T0 + minutes(5))
    lead = responses(api, ic, incident)["security_lead"]
    assert lead["status"] == "late"
    assert lead["next_contact"]["role"] == "ceo"  # 5.3's next row that applies: P1 only


def test_the_response_time_is_the_policy_an_sre_lead_sets(
    api, sre_lead, org, ic, gateway, frozen, sweep, procedure_kinds
):
    response = api(sre_lead).patch(
        "/api/v1/policy/",
        {"escalation_contacts": {"vp_engineering": {"response_minutes": 20}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    incident = declare(actor=ic, services=gateway)
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    sweep(T0 + minutes(30))
    vp = responses(api, ic, incident)["vp_engineering"]
    assert vp["response_minutes"] == 20
    assert vp["due_at"].startswith((T0 + minutes(50)).isoformat()[:19])


def test_a_viewer_cannot_page_the_next_contact(api, org, ic, acked_p1, sweep, viewer):
    incident = acked_p1
    sweep(T0 + minutes(30))
    sweep(T0 + minutes(45))
    vp = responses(api, ic, incident)["vp_engineering"]
    pages, timeline = Page.objects.count(), TimelineEvent.objects.count()

    response = page_next(api, viewer, incident, vp["id"])

    assert response.status_code == 403, response.content
    assert "Viewers cannot change incidents" in response.json()["detail"]
    assert (Page.objects.count(), TimelineEvent.objects.count()) == (pages, timeline)
    assert responses(api, ic, incident)["vp_engineering"]["next_response"] is None
    assert responses(api, ic, incident)["vp_engineering"]["next_contact"]["role"] == "cto"


def test_no_step_before_the_contact_is_late_nor_after_the_last(
    api, org, ic, acked_p1, sweep, frozen
):
    incident = acked_p1
    request(api, ic, incident, "engineering_manager", "need a decision")
    em = responses(api, ic, incident)["engineering_manager"]
    early = page_next(api, ic, incident, em["id"])
    assert early.status_code == 409
    assert "is not late" in early.json()["detail"]
    sweep(T0 + minutes(30))
    sweep(T0 + minutes(61))  # the VP late, the CTO paged by 5.1 itself
    sweep(T0 + minutes(76))  # the CTO late too: the CEO is P1's last contact
    cto = responses(api, ic, incident)["cto"]
    assert cto["status"] == "late" and cto["next_contact"]["role"] == "ceo"
    assert page_next(api, ic, incident, cto["id"]).status_code == 201
    frozen.move_to(T0 + minutes(200), tick=False)
    sweep(T0 + minutes(200))
    ceo = responses(api, ic, incident)["ceo"]
    assert (ceo["status"], ceo["next_contact"]) == ("late", None)
    last = page_next(api, ic, incident, ceo["id"])
    assert last.status_code == 409
    assert "No escalation contact of 5.3 follows CEO" in last.json()["detail"]
    assert page_next(api, ic, incident, 999999).status_code == 404


def test_a_drill_times_contacts_and_sends_nothing(
    api, org, ic, gateway, frozen, sweep, procedure_kinds, mailoutbox, eager_pages
):
    incident = declare(actor=ic, services=gateway, drill=True)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    sweep(T0 + minutes(30))
    sweep(T0 + minutes(45))
    vp = responses(api, ic, incident)["vp_engineering"]
    assert vp["status"] == "late"
    (late,) = events(incident, TimelineKind.ESCALATION_LATE)
    assert "drill: suppressed" in late.text and late.data["pages"] == []
    assert page_next(api, ic, incident, vp["id"]).status_code == 201
    assert set(Page.objects.filter(incident=incident).values_list("status", flat=True)) == {
        "suppressed"
    }
    assert mailoutbox == []


def test_resolution_ends_the_waiting(api, org, ic, acked_p1, sweep):
    from tests.factories import drive_to

    incident = acked_p1
    sweep(T0 + minutes(30))
    drive_to(incident, "resolved", ic)
    vp = responses(api, ic, incident)["vp_engineering"]
    assert Deadline.objects.get(incident=incident, key=f"response:{vp['key']}").status == (
        "cancelled"
    )
