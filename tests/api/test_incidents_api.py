"""Incidents over HTTP: declare, list, detail, lifecycle, roles, timeline, checklists, and what a
viewer may not do."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents import services
from incidents.models import ChecklistItem, Incident, Service, TimelineEvent
from tests.factories import UserFactory, declare, drive_to, tick_resolution_criteria

from .conftest import INCIDENTS, assert_error, declare_body, incident_url, parse_time

pytestmark = pytest.mark.django_db


def _iso(moment) -> str:
    return moment.isoformat()


# --- declare ------------------------------------------------------------------------------------
def test_declare_returns_201_with_the_contract_fields(api, ic_user):
    response = api(ic_user).post(INCIDENTS, declare_body(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "status", "severity", "channel_name", "detected_at", "acknowledged_at"} <= set(
        body
    )
    assert body["status"] == "investigating"
    assert body["severity"] == "P1"
    assert body["acknowledged_at"] is None
    assert body["channel_name"].startswith("#inc-")
    assert body["channel_name"].endswith("-api-gateway-returning-502s")
    assert body["services"] == ["api-gateway"]
    detected = parse_time(body["detected_at"])
    assert abs((timezone.now() - detected).total_seconds()) < 60
    incident = Incident.objects.get(pk=body["id"])
    assert incident.declared_by == ic_user
    assert list(incident.timeline.values_list("kind", flat=True)) == ["declared"]


def test_declare_accepts_past_times_and_counts_from_them(api, ic_user):
    detected = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)
    started = detected - timedelta(minutes=30)
    body = declare_body(started_at=_iso(started), detected_at=_iso(detected))

    response = api(ic_user).post(INCIDENTS, body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert parse_time(data["detected_at"]) == detected
    assert parse_time(data["started_at"]) == started
    assert data["ttd_seconds"] == 30 * 60
    assert data["ttm_seconds"] is None
    assert data["ttr_seconds"] is None
    # The day in the channel name is the day of detection.
    assert data["channel_name"].startswith(f"#inc-{detected:%Y%m%d}-")


def test_declare_accepts_a_non_utc_offset(api, ic_user):
    response = api(ic_user).post(
        INCIDENTS, declare_body(detected_at="2020-01-31T14:05:00+02:00"), format="json"
    )
    assert response.status_code == 201, response.content
    detected = parse_time(response.json()["detected_at"])
    assert detected.utcoffset() is not None
    assert detected == parse_time("2020-01-31T12:05:00+00:00")


def test_declare_refuses_a_future_detected_at(api, ic_user):
    future = timezone.now() + timedelta(hours=1)
    response = api(ic_user).post(INCIDENTS, declare_body(detected_at=_iso(future)), format="json")
    body = assert_error(response, 400)
    assert "detected_at" in body
    assert "detected_at" in body["detail"]
    assert Incident.objects.count() == 0


def test_declare_refuses_a_future_started_at(api, ic_user):
    future = timezone.now() + timedelta(hours=1)
    response = api(ic_user).post(INCIDENTS, declare_body(started_at=_iso(future)), format="json")
    body = assert_error(response, 400)
    assert "started_at" in body
    assert Incident.objects.count() == 0


def test_declare_refuses_started_after_detected(api, ic_user):
    detected = timezone.now() - timedelta(hours=1)
    body = declare_body(
        detected_at=_iso(detected), started_at=_iso(detected + timedelta(minutes=5))
    )
    response = api(ic_user).post(INCIDENTS, body, format="json")
    error = assert_error(response, 400)
    assert "started_at" in error
    assert "after detected_at" in error["detail"]
    assert Incident.objects.count() == 0


@pytest.mark.parametrize("naive", ["2020-01-31T14:05:00", "2020-01-31T14:05:00.250", "2020-01-31"])
@pytest.mark.parametrize("field", ["detected_at", "started_at"])
def test_declare_refuses_a_time_without_offset(api, ic_user, field, naive):
    response = api(ic_user).post(INCIDENTS, declare_body(**{field: naive}), format="json")
    body = assert_error(response, 400)
    assert field in body, body
    assert "offset" in " ".join(body[field]).lower() or naive == "2020-01-31"
    assert Incident.objects.count() == 0


def test_declare_refuses_an_unknown_field_and_creates_nothing(api, ic_user):
    response = api(ic_user).post(INCIDENTS, declare_body(sevrity="P2"), format="json")
    body = assert_error(response, 400)
    assert "sevrity" in body
    assert "sevrity" in body["detail"]
    assert Incident.objects.count() == 0
    assert TimelineEvent.objects.count() == 0


def test_declare_refuses_an_unknown_service(api, ic_user):
    response = api(ic_user).post(
        INCIDENTS, declare_body(services=["api-gateway", "no-such-service"]), format="json"
    )
    body = assert_error(response, 400)
    assert "services" in body
    assert "no-such-service" in body["detail"]
    assert Incident.objects.count() == 0


@pytest.mark.parametrize("missing", ["title", "severity", "detection_source"])
def test_declare_without_a_required_field(api, ic_user, missing):
    body = declare_body()
    del body[missing]
    response = api(ic_user).post(INCIDENTS, body, format="json")
    error = assert_error(response, 400)
    assert missing in error
    assert isinstance(error[missing], list)
    assert missing in error["detail"]
    assert Incident.objects.count() == 0


def test_declare_without_title_and_severity_names_both(api, ic_user):
    body = declare_body()
    del body["title"], body["severity"]
    error = assert_error(api(ic_user).post(INCIDENTS, body, format="json"), 400)
    assert {"title", "severity"} <= set(error)


def test_declare_refuses_an_unknown_severity(api, ic_user):
    error = assert_error(
        api(ic_user).post(INCIDENTS, declare_body(severity="P0"), format="json"), 400
    )
    assert "severity" in error


# --- list ----------------------------------------------------------------------------------------
def _services(*slugs):
    return list(Service.objects.filter(slug__in=slugs))


@pytest.fixture
def mixed_incidents(ic_user):
    """Five incidents across statuses, severities and services."""
    p1 = declare(
        actor=ic_user, title="Gateway down", severity="P1", services=_services("api-gateway")
    )
    p2 = declare(
        actor=ic_user, title="Inference slow", severity="P2", services=_services("inference")
    )
    p3 = declare(
        actor=ic_user, title="Training queue", severity="P3", services=_services("training")
    )
    p4 = declare(
        actor=ic_user,
        title="Gateway typo",
        severity="P4",
        services=_services("api-gateway", "database"),
    )
    drive_to(p2, "identified", ic_user)
    drive_to(p3, "monitoring", ic_user)
    resolved = declare(
        actor=ic_user, title="DB failover", severity="P2", services=_services("database")
    )
    drive_to(resolved, "resolved", ic_user)
    return {"p1": p1, "p2": p2, "p3": p3, "p4": p4, "resolved": resolved}


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_list_is_paginated(api, viewer, mixed_incidents):
    response = api(viewer).get(INCIDENTS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == 5
    assert body["next"] is None and body["previous"] is None
    assert len(body["results"]) == 5
    # Newest detection first.
    assert body["results"][0]["id"] == mixed_incidents["resolved"].pk


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=investigating", {"p1", "p4"}),
        ("status=identified", {"p2"}),
        ("status=monitoring", {"p3"}),
        ("status=resolved", {"resolved"}),
        ("status=investigating,identified", {"p1", "p4", "p2"}),
        ("severity=P2", {"p2", "resolved"}),
        ("severity=P1,P4", {"p1", "p4"}),
        ("service=api-gateway", {"p1", "p4"}),
        ("service=database", {"p4", "resolved"}),
        ("service=encryption", set()),
        ("service=api-gateway&severity=P4", {"p4"}),
        # p4 affects two of the platform team's services: listed and counted once
        ("team=platform", {"p1", "p2", "p3", "p4", "resolved"}),
        ("team=platform&severity=P4", {"p4"}),
        ("team=security", set()),
        ("team=nope", set()),
        ("service=nope", set()),
        ("q=gateway", {"p1", "p4"}),
    ],
)
def test_list_filters(api, viewer, mixed_incidents, query, expected):
    response = api(viewer).get(f"{INCIDENTS}?{query}")
    assert _ids(response) == {mixed_incidents[name].pk for name in expected}
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=closed", "status"),
        ("status=investigating,nope", "status"),
        ("severity=P9", "severity"),
    ],
)
def test_list_refuses_an_invalid_filter_value(api, viewer, mixed_incidents, query, field):
    body = assert_error(api(viewer).get(f"{INCIDENTS}?{query}"), 400)
    assert field in body
    assert query.split("=")[1].split(",")[-1] in body["detail"]


def test_list_pages_of_50_by_default_and_page_size(api, viewer, ic_user):
    for n in range(53):
        declare(actor=ic_user, title=f"Incident number {n}", severity="P4")
    client = api(viewer)

    first = client.get(INCIDENTS).json()
    assert first["count"] == 53
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert "page=2" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 3
    assert second["next"] is None
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}

    small = client.get(f"{INCIDENTS}?page_size=7").json()
    assert small["count"] == 53
    assert len(small["results"]) == 7
    assert "page_size=7" in small["next"]


def test_list_page_past_the_end_is_404_json(api, viewer, incident):
    assert_error(api(viewer).get(f"{INCIDENTS}?page=99"), 404)


# --- detail ---------------------------------------------------------------------------------------
def test_detail_has_durations_transitions_and_blockers(api, ic_user, incident):
    body = api(ic_user).get(incident_url(incident)).json()
    assert body["id"] == incident.pk
    assert body["ttd_seconds"] is None  # no started_at given
    assert body["ttm_seconds"] is None
    assert body["ttr_seconds"] is None
    assert body["allowed_transitions"] == ["identified"]
    assert body["resolution_blockers"] == []
    assert parse_time(body["target_resolution_at"]) - parse_time(body["detected_at"]) == timedelta(
        minutes=120
    )


def test_detail_in_monitoring_lists_what_blocks_resolving(api, ic_user, incident):
    drive_to(incident, "monitoring", ic_user)
    body = api(ic_user).get(incident_url(incident)).json()
    blockers = " | ".join(body["resolution_blockers"])
    assert "Error rates returned to baseline" in blockers
    assert "stability window" in blockers
    assert "no Incident Commander" in blockers
    assert body["ttm_seconds"] is not None and body["ttm_seconds"] >= 0
    assert body["ttr_seconds"] is None
    # Without the IC role the EM may still go back, but not resolve.
    assert "resolved" not in body["allowed_transitions"]
    assert set(body["allowed_transitions"]) == {"identified", "investigating"}


def test_detail_of_a_missing_incident_is_404_json(api, ic_user):
    assert_error(api(ic_user).get(incident_url(999999)), 404)


# --- acknowledge ----------------------------------------------------------------------------------
def test_acknowledge_sets_acknowledged_at(api, responder, incident):
    response = api(responder).post(incident_url(incident, "acknowledge"), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["acknowledged_by"] == responder.username
    acknowledged = parse_time(body["acknowledged_at"])
    assert abs((timezone.now() - acknowledged).total_seconds()) < 60
    assert incident.timeline.filter(kind="acknowledged").count() == 1

    # The first acknowledgement stands.
    again = api(UserFactory(groups=["responder"])).post(incident_url(incident, "acknowledge"))
    assert again.status_code == 200
    assert again.json()["acknowledged_at"] == body["acknowledged_at"]
    assert again.json()["acknowledged_by"] == responder.username
    assert incident.timeline.filter(kind="acknowledged").count() == 1


# --- transitions ----------------------------------------------------------------------------------
def _transition(client, incident, to, **extra):
    return client.post(incident_url(incident, "transition"), {"to": to, **extra}, format="json")


def test_legal_transition(api, responder, incident):
    response = _transition(api(responder), incident, "identified")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "identified"
    assert body["identified_at"] is not None
    event = incident.timeline.get(kind="status_changed")
    assert event.data["from"] == "investigating" and event.data["to"] == "identified"
    assert event.actor == responder


@pytest.mark.parametrize("to", ["monitoring", "resolved", "investigating"])
def test_illegal_transition_is_409_with_allowed(api, responder, incident, to):
    response = _transition(api(responder), incident, to)
    body = assert_error(response, 409)
    assert body["allowed"] == ["identified"]
    assert "investigating" in body["detail"]
    incident.refresh_from_db()
    assert incident.status == "investigating"
    assert incident.timeline.count() == 1


def test_transition_to_an_unknown_status_is_400(api, responder, incident):
    body = assert_error(_transition(api(responder), incident, "closed"), 400)
    assert "to" in body


def test_resolve_before_criteria_and_window_is_409_naming_them(api, ic_user, incident):
    client = api(ic_user)
    client.post(
        incident_url(incident, "roles"),
        {"role": "incident_commander", "username": ic_user.username},
        format="json",
    )
    _transition(client, incident, "identified")
    _transition(client, incident, "monitoring")

    response = _transition(client, incident, "resolved")

    body = assert_error(response, 409)
    assert "Error rates returned to baseline" in body["detail"]
    assert "Latency returned to baseline" in body["detail"]
    assert "No ongoing customer impact" in body["detail"]
    assert "stability window" in body["detail"]
    assert "15 minutes" in body["detail"]
    assert set(body["allowed"]) == {"identified", "investigating"}
    incident.refresh_from_db()
    assert incident.status == "monitoring"


def test_full_p1_run_over_http(api, ic_user, incident):
    client = api(ic_user)
    assert client.post(incident_url(incident, "acknowledge")).status_code == 200
    role = client.post(
        incident_url(incident, "roles"),
        {"role": "incident_commander", "username": ic_user.username},
        format="json",
    )
    assert role.status_code == 200, role.content
    assert role.json()["roles"][0]["role"] == "incident_commander"
    assert _transition(client, incident, "identified").status_code == 200
    assert _transition(client, incident, "monitoring").status_code == 200

    items = client.get(incident_url(incident, "checklists")).json()
    criteria = [i for i in items if i["checklist"] == "resolution" and not i["done"]]
    assert len(criteria) == 6
    for item in criteria:
        if item["key"] == "ic_declares_resolved":
            continue  # ticked by the resolve itself
        ticked = client.patch(
            incident_url(incident, f"checklists/{item['id']}"), {"done": True}, format="json"
        )
        assert ticked.status_code == 200, ticked.content

    # Criteria met but the stability window not yet passed.
    early = assert_error(_transition(client, incident, "resolved"), 409)
    assert "stability window" in early["detail"]
    assert "criterion" not in early["detail"]

    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=5)):
        response = _transition(client, incident, "resolved")
        assert response.status_code == 200, response.content
        body = response.json()
    assert body["status"] == "resolved"
    assert body["ttr_seconds"] >= 15 * 60
    assert body["ttr_seconds"] == int(
        (parse_time(body["resolved_at"]) - parse_time(body["detected_at"])).total_seconds()
    )
    assert body["allowed_transitions"] == ["investigating"]
    assert ChecklistItem.objects.get(incident=incident, key="ic_declares_resolved").done

    # Reopening takes a reason.
    no_reason = assert_error(_transition(client, incident, "investigating"), 400)
    assert "reason" in no_reason
    assert "reason" in no_reason["detail"]
    incident.refresh_from_db()
    assert incident.status == "resolved"

    reopened = _transition(client, incident, "investigating", reason="errors came back")
    assert reopened.status_code == 200, reopened.content
    assert reopened.json()["status"] == "investigating"
    assert reopened.json()["ttr_seconds"] is None
    assert incident.timeline.filter(kind="reopened").get().data["reason"] == "errors came back"


def test_only_the_ic_may_resolve(api, ic_user, responder, incident):
    drive_to(incident, "monitoring", ic_user)
    services.incident_assign_role(
        actor=ic_user, incident_id=incident.pk, role="incident_commander", user=ic_user
    )
    tick_resolution_criteria(incident, ic_user)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        body = assert_error(_transition(api(responder), incident, "resolved"), 403)
    assert "Incident Commander" in body["detail"]


# --- roles ----------------------------------------------------------------------------------------
def _role(client, incident, role, username, **extra):
    return client.post(
        incident_url(incident, "roles"),
        {"role": role, "username": username, **extra},
        format="json",
    )


def test_assign_role(api, ic_user, responder, incident):
    response = _role(api(ic_user), incident, "tech_lead", responder.username)
    assert response.status_code == 200, response.content
    roles = response.json()["roles"]
    assert [(r["role"], r["username"]) for r in roles] == [("tech_lead", responder.username)]


def test_role_rule_violation_is_400_quoting_the_rule(api, ic_user, responder, incident):
    response = _role(api(ic_user), incident, "incident_commander", responder.username)
    body = assert_error(response, 400)
    assert "Engineering Manager or above" in body["detail"]
    assert "3.1" in body["detail"]
    assert body["rule"] == "P1 Incident Commander: Engineering Manager or above"
    assert "username" in body
    assert incident.roles.count() == 0


def test_scribe_rule(api, ic_user, incident):
    client = api(ic_user)
    assert _role(client, incident, "incident_commander", ic_user.username).status_code == 200
    body = assert_error(_role(client, incident, "scribe", ic_user.username), 400)
    assert "not the IC or Technical Lead" in body["detail"]


def test_assign_unknown_username_is_400(api, ic_user, incident):
    body = assert_error(_role(api(ic_user), incident, "tech_lead", "nobody-here"), 400)
    assert "username" in body
    assert "nobody-here" in body["detail"]


def test_assign_unknown_role_is_400(api, ic_user, responder, incident):
    body = assert_error(_role(api(ic_user), incident, "captain", responder.username), 400)
    assert "role" in body


def test_remove_relieves_the_holder(api, ic_user, responder, incident):
    client = api(ic_user)
    _role(client, incident, "tech_lead", responder.username)
    response = _role(client, incident, "tech_lead", responder.username, remove=True)
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == []
    assignment = incident.roles.get()
    assert assignment.relieved_at is not None
    assert assignment.relieved_by == ic_user
    assert incident.timeline.filter(kind="role_relieved").count() == 1
    # Relieving someone who holds nothing is a 400 naming them.
    again = assert_error(_role(client, incident, "tech_lead", responder.username, remove=True), 400)
    assert responder.username in again["detail"]


# --- timeline -------------------------------------------------------------------------------------
def test_timeline_oldest_first_with_contract_fields(api, ic_user, responder, incident):
    client = api(ic_user)
    client.post(incident_url(incident, "acknowledge"))
    _transition(client, incident, "identified")

    response = client.get(incident_url(incident, "timeline"))

    assert response.status_code == 200
    events = response.json()
    assert [e["kind"] for e in events] == ["declared", "acknowledged", "status_changed"]
    for event in events:
        assert {"id", "kind", "occurred_at", "actor", "text", "data"} <= set(event)
        parse_time(event["occurred_at"])
        assert event["actor"] == ic_user.username
    times = [parse_time(e["occurred_at"]) for e in events]
    assert times == sorted(times)
    assert events[2]["data"]["to"] == "identified"


def test_timeline_orders_a_backdated_note_by_when_it_happened(api, ic_user, incident):
    client = api(ic_user)
    earlier = incident.declared_at - timedelta(minutes=10)
    response = client.post(
        incident_url(incident, "timeline"),
        {"text": "Alert fired", "occurred_at": _iso(earlier)},
        format="json",
    )
    assert response.status_code == 201, response.content
    kinds = [e["kind"] for e in client.get(incident_url(incident, "timeline")).json()]
    assert kinds == ["note", "declared"]


def test_add_note(api, responder, incident):
    response = api(responder).post(
        incident_url(incident, "timeline"), {"text": "Rolled back deploy 4711"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "note"
    assert body["text"] == "Rolled back deploy 4711"
    assert body["actor"] == responder.username
    assert incident.timeline.filter(kind="note", text="Rolled back deploy 4711").exists()


@pytest.mark.parametrize(
    "body", [{}, {"text": ""}, {"text": "   "}, {"text": "x", "kind": "declared"}]
)
def test_add_note_refuses_bad_bodies(api, responder, incident, body):
    assert_error(api(responder).post(incident_url(incident, "timeline"), body, format="json"), 400)
    assert incident.timeline.count() == 1


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_timeline_cannot_be_edited(api, ic_user, incident, method):
    response = getattr(api(ic_user), method)(
        incident_url(incident, "timeline"), {"text": "rewritten"}, format="json"
    )
    assert_error(response, 405)
    assert incident.timeline.get().text.startswith("Declared P1")


# --- checklists -----------------------------------------------------------------------------------
def test_checklists_list_items_with_contract_fields(api, viewer, incident):
    response = api(viewer).get(incident_url(incident, "checklists"))
    assert response.status_code == 200
    items = response.json()
    assert {i["checklist"] for i in items} == {"triage", "ic", "resolution"}
    assert len(items) == 7 + 18 + 6
    for item in items:
        assert {"id", "checklist", "text", "done", "done_at", "done_by"} <= set(item)
    declared = next(i for i in items if i["key"] == "incident_declared")
    assert declared["done"] is True
    parse_time(declared["done_at"])
    verified = next(i for i in items if i["key"] == "issue_verified")
    assert (verified["done"], verified["done_at"], verified["done_by"]) == (False, None, None)


def test_tick_a_checklist_item(api, responder, incident):
    item = incident.checklist.get(key="issue_verified")
    client = api(responder)
    response = client.patch(
        incident_url(incident, f"checklists/{item.pk}"), {"done": True}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == item.pk
    assert body["done"] is True
    assert body["done_by"] == responder.username
    parse_time(body["done_at"])
    event = incident.timeline.get(kind="checklist_ticked")
    assert event.data["item"] == item.pk
    assert event.actor == responder
    assert "Issue verified" in event.text

    untick = client.patch(
        incident_url(incident, f"checklists/{item.pk}"), {"done": False}, format="json"
    )
    assert untick.status_code == 200
    assert (untick.json()["done"], untick.json()["done_by"]) == (False, None)
    assert incident.timeline.filter(kind="checklist_unticked").count() == 1


def test_tick_another_incidents_item_is_404(api, ic_user, incident):
    other = declare(actor=ic_user, title="Another one")
    foreign = other.checklist.get(key="issue_verified")
    response = api(ic_user).patch(
        incident_url(incident, f"checklists/{foreign.pk}"), {"done": True}, format="json"
    )
    assert_error(response, 404)
    foreign.refresh_from_db()
    assert foreign.done is False
    assert not TimelineEvent.objects.filter(kind="checklist_ticked").exists()


@pytest.mark.parametrize("body", [{}, {"done": "perhaps"}, {"done": True, "text": "edited"}])
def test_tick_refuses_bad_bodies(api, responder, incident, body):
    item = incident.checklist.get(key="issue_verified")
    response = api(responder).patch(
        incident_url(incident, f"checklists/{item.pk}"), body, format="json"
    )
    assert_error(response, 400)
    item.refresh_from_db()
    assert item.done is False


# --- edit and severity ---------------------------------------------------------------------------
def test_patch_severity_records_severity_changed(api, ic_user, incident):
    services.incident_assign_role(
        actor=ic_user, incident_id=incident.pk, role="incident_commander", user=ic_user
    )
    response = api(ic_user).patch(
        incident_url(incident), {"severity": "P2", "reason": "impact smaller"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["severity"] == "P2"
    event = incident.timeline.get(kind="severity_changed")
    assert event.data["old"] == "P1" and event.data["new"] == "P2"
    assert event.data["reason"] == "impact smaller"
    assert event.actor == ic_user


def test_patch_severity_names_holders_who_no_longer_qualify(api, ic_user, incident):
    senior = UserFactory(rank="senior_engineer", groups=["responder"])
    p2 = declare(actor=ic_user, severity="P2")
    client = api(ic_user)
    assert _role(client, p2, "incident_commander", senior.username).status_code == 200
    # senior, the IC, raises it (no reason needed to raise)
    body = api(senior).patch(incident_url(p2), {"severity": "P1"}, format="json").json()
    assert body["severity"] == "P1"
    assert any("Engineering Manager or above" in w for w in body["role_warnings"])


def test_patch_details(api, ic_user, incident):
    response = api(ic_user).patch(
        incident_url(incident), {"title": "Gateway 502s", "services": ["database"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Gateway 502s"
    assert response.json()["services"] == ["database"]
    assert incident.timeline.filter(kind="updated").count() == 2


def test_patch_refuses_unknown_fields(api, ic_user, incident):
    body = assert_error(
        api(ic_user).patch(incident_url(incident), {"status": "resolved"}, format="json"), 400
    )
    assert "status" in body
    incident.refresh_from_db()
    assert incident.status == "investigating"


# --- viewers --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["", "timeline/", "checklists/"], ids=["detail", "timeline", "checklists"]
)
def test_viewer_can_read(api, viewer, incident, path):
    response = api(viewer).get(incident_url(incident) + path)
    assert response.status_code == 200, response.content


def test_viewer_can_list(api, viewer, incident):
    assert _ids(api(viewer).get(INCIDENTS)) == {incident.pk}


def _viewer_writes(incident, viewer):
    item = incident.checklist.get(key="issue_verified")
    return {
        "declare": ("post", INCIDENTS, declare_body()),
        "edit": ("patch", incident_url(incident), {"title": "Renamed"}),
        "severity": ("patch", incident_url(incident), {"severity": "P2"}),
        "acknowledge": ("post", incident_url(incident, "acknowledge"), {}),
        "transition": ("post", incident_url(incident, "transition"), {"to": "identified"}),
        "role": (
            "post",
            incident_url(incident, "roles"),
            {"role": "sme", "username": viewer.username},
        ),
        "note": ("post", incident_url(incident, "timeline"), {"text": "I was here"}),
        "tick": ("patch", incident_url(incident, f"checklists/{item.pk}"), {"done": True}),
        "policy": ("patch", "/api/v1/policy/", {"stability_window_minutes": 20}),
        "user": (
            "post",
            "/api/v1/users/",
            {"username": "newbie", "password": "a-long-passphrase", "rank": "engineer"},
        ),
    }


VIEWER_WRITES = [
    "declare",
    "edit",
    "severity",
    "acknowledge",
    "transition",
    "role",
    "note",
    "tick",
    "policy",
    "user",
]


@pytest.mark.parametrize("write", VIEWER_WRITES)
def test_viewer_cannot_write(api, viewer, incident, write):
    method, url, body = _viewer_writes(incident, viewer)[write]
    before = (Incident.objects.count(), TimelineEvent.objects.count())

    response = getattr(api(viewer), method)(url, body, format="json")

    assert_error(response, 403)
    assert (Incident.objects.count(), TimelineEvent.objects.count()) == before
    incident.refresh_from_db()
    assert (incident.status, incident.severity, incident.acknowledged_at) == (
        "investigating",
        "P1",
        None,
    )
    assert not incident.roles.exists()
    assert not incident.checklist.filter(key="issue_verified", done=True).exists()
