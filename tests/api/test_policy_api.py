"""`GET, PATCH /api/v1/policy/`: the procedures' numbers in force, changed only by SRE leads,
every change audited, and a PATCH applied whole or not at all."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents import services
from incidents.models import EscalationRule, PolicyChange
from tests.factories import declare, drive_to, tick_resolution_criteria

from .conftest import assert_error, incident_url, parse_time

pytestmark = pytest.mark.django_db

POLICY = "/api/v1/policy/"


def _in_force(client) -> dict:
    body = client.get(POLICY).json()
    body.pop("recent_changes", None)
    return body


def _patch(client, body):
    return client.patch(POLICY, body, format="json")


def test_get_policy_has_the_procedures_defaults(api, viewer):
    response = api(viewer).get(POLICY)
    assert response.status_code == 200
    body = response.json()
    assert body["stability_window_minutes"] == 15
    assert set(body["severities"]) == {"P1", "P2", "P3", "P4"}
    targets = {sev: p["target_resolution_minutes"] for sev, p in body["severities"].items()}
    assert targets == {"P1": 120, "P2": 240, "P3": 1440, "P4": 43200}
    assert body["severities"]["P1"]["ic_selection"] == "Engineering Manager or above"
    rules = body["escalation_rules"]
    assert rules and all(
        {"id", "severity", "trigger", "after_minutes", "target", "enabled"} <= set(r) for r in rules
    )
    assert {(r["severity"], r["trigger"], r["after_minutes"], r["target"]) for r in rules} >= {
        ("P1", "unacknowledged", 5, "backup_on_call"),
        ("P1", "unacknowledged", 10, "engineering_manager"),
        ("P1", "open", 30, "vp_engineering"),
        ("P1", "open", 60, "cto"),
    }
    assert body["recent_changes"] == []


def test_sre_lead_changes_the_stability_window_and_it_is_in_force(api, sre_lead, ic_user):
    incident = declare(actor=ic_user)
    drive_to(incident, "monitoring", ic_user)
    services.incident_assign_role(
        actor=ic_user, incident_id=incident.pk, role="incident_commander", user=ic_user
    )
    tick_resolution_criteria(incident, ic_user)

    response = _patch(api(sre_lead), {"stability_window_minutes": 20, "reason": "PIR-12"})

    assert response.status_code == 200, response.content
    assert response.json()["stability_window_minutes"] == 20
    assert api(ic_user).get(POLICY).json()["stability_window_minutes"] == 20
    change = PolicyChange.objects.get()
    assert (change.changed_by, change.target, change.field) == (
        sre_lead,
        "settings",
        "stability_window_minutes",
    )
    assert (change.old_value, change.new_value, change.reason) == (15, 20, "PIR-12")
    recent = response.json()["recent_changes"]
    assert recent[0]["changed_by"] == sre_lead.username
    assert (recent[0]["old_value"], recent[0]["new_value"]) == (15, 20)

    client = api(ic_user)
    transition = incident_url(incident, "transition")
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        refused = assert_error(client.post(transition, {"to": "resolved"}, format="json"), 409)
        assert "20 minutes" in refused["detail"]
    with time_machine.travel(timezone.now() + timedelta(minutes=20, seconds=5)):
        resolved = client.post(transition, {"to": "resolved"}, format="json")
        assert resolved.status_code == 200, resolved.content
        assert resolved.json()["status"] == "resolved"


def test_superuser_may_change_the_policy(api, superuser):
    assert _patch(api(superuser), {"stability_window_minutes": 30}).status_code == 200
    assert PolicyChange.objects.get().changed_by == superuser


def test_nested_severity_change_is_in_force_and_audited(api, sre_lead, ic_user):
    response = _patch(api(sre_lead), {"severities": {"P1": {"target_resolution_minutes": 90}}})
    assert response.status_code == 200, response.content
    assert response.json()["severities"]["P1"]["target_resolution_minutes"] == 90
    assert response.json()["severities"]["P2"]["target_resolution_minutes"] == 240
    change = PolicyChange.objects.get()
    assert (change.target, change.field, change.old_value, change.new_value) == (
        "severity:P1",
        "target_resolution_minutes",
        120,
        90,
    )
    incident = declare(actor=ic_user)
    detail = api(ic_user).get(incident_url(incident)).json()
    target = parse_time(detail["target_resolution_at"]) - parse_time(detail["detected_at"])
    assert target == timedelta(minutes=90)


def test_escalation_rules_update_create_delete(api, sre_lead):
    client = api(sre_lead)
    rules = client.get(POLICY).json()["escalation_rules"]
    first = next(r for r in rules if r["trigger"] == "unacknowledged" and r["after_minutes"] == 5)
    doomed = next(r for r in rules if r["trigger"] == "open" and r["after_minutes"] == 60)

    response = _patch(
        client,
        {
            "escalation_rules": [
                {"id": first["id"], "after_minutes": 7},
                {"severity": "P2", "trigger": "open", "after_minutes": 90, "target": "cto"},
                {"id": doomed["id"], "delete": True},
            ],
            "reason": "tabletop exercise",
        },
    )

    assert response.status_code == 200, response.content
    after = {r["id"]: r for r in response.json()["escalation_rules"]}
    assert after[first["id"]]["after_minutes"] == 7
    assert doomed["id"] not in after
    assert not EscalationRule.objects.filter(pk=doomed["id"]).exists()
    created = [r for r in after.values() if r["id"] not in {x["id"] for x in rules}]
    assert [(c["severity"], c["trigger"], c["after_minutes"], c["target"]) for c in created] == [
        ("P2", "open", 90, "cto")
    ]
    audit = {(c.target, c.field): c for c in PolicyChange.objects.all()}
    assert set(audit) == {
        (f"escalation_rule:{first['id']}", "after_minutes"),
        (f"escalation_rule:{created[0]['id']}", "*"),
        (f"escalation_rule:{doomed['id']}", "*"),
    }
    assert audit[(f"escalation_rule:{first['id']}", "after_minutes")].old_value == 5
    assert audit[(f"escalation_rule:{created[0]['id']}", "*")].old_value is None
    assert audit[(f"escalation_rule:{created[0]['id']}", "*")].new_value["target"] == "cto"
    deleted = audit[(f"escalation_rule:{doomed['id']}", "*")]
    assert (deleted.old_value["target"], deleted.new_value) == ("cto", None)
    assert all(c.changed_by == sre_lead for c in audit.values())
    assert all(c.reason == "tabletop exercise" for c in audit.values())


def test_patch_without_changes_writes_no_audit(api, sre_lead):
    response = _patch(api(sre_lead), {"stability_window_minutes": 15})
    assert response.status_code == 200
    assert PolicyChange.objects.count() == 0


@pytest.mark.parametrize("who", ["responder", "viewer", "ic_user", "security_user"])
def test_only_sre_leads_may_patch(api, request, who):
    client = api(request.getfixturevalue(who))
    before = _in_force(client)
    body = assert_error(_patch(client, {"stability_window_minutes": 20}), 403)
    assert "SRE" in body["detail"]
    assert _in_force(client) == before
    assert PolicyChange.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"stability_window_minutes": 0}, "stability_window_minutes"),
        ({"stability_window_minutes": -5}, "stability_window_minutes"),
        ({"stability_window_minutes": "soon"}, "stability_window_minutes"),
        ({"stability_window_minutes": None}, "stability_window_minutes"),
        ({"stability_windw_minutes": 20}, "stability_windw_minutes"),
        ({"bridge_base_url": "not a url"}, "bridge_base_url"),
        ({"severities": {"P9": {"target_resolution_minutes": 60}}}, "P9"),
        ({"severities": {"P1": {"target_resolution_minutes": 0}}}, "target_resolution_minutes"),
        ({"severities": {"P1": {"target_resolution_minutes": "x"}}}, "target_resolution_minutes"),
        ({"severities": {"P1": {"target_resolution_mins": 60}}}, "target_resolution_mins"),
        ({"severities": {"P1": {"severity": "P2"}}}, "severity"),
        ({"severities": {"P1": 60}}, "severities"),
        ({"severities": {"P1": {"ic_allowed_ranks": ["pope"]}}}, "ic_allowed_ranks"),
        (
            {"severities": {"P2": {"comms_lead_allowed_ranks": "support"}}},
            "comms_lead_allowed_ranks",
        ),
        ({"severities": {"P1": {"criteria": "not a list"}}}, "criteria"),
        (
            {
                "escalation_rules": [
                    {"severity": "P2", "trigger": "open", "target": "cto", "delete": True}
                ]
            },
            "delete",
        ),
        ({"escalation_rules": [{"id": 999999, "after_minutes": 3}]}, "999999"),
        (
            {"escalation_rules": [{"severity": "P2", "trigger": "whenever", "target": "cto"}]},
            "trigger",
        ),
        ({"escalation_rules": [{"severity": "P2", "trigger": "open"}]}, "target"),
        (
            {"escalation_rules": [{"after_minutes": -1, "trigger": "open", "target": "cto"}]},
            "after_minutes",
        ),
    ],
)
def test_invalid_patch_is_400_naming_it_and_changes_nothing(api, sre_lead, body, named):
    client = api(sre_lead)
    before = _in_force(client)

    error = assert_error(_patch(client, body), 400)

    assert named in error["detail"], error
    assert _in_force(client) == before
    assert PolicyChange.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"stability_window_minutes": 20, "severities": {"P1": {"target_resolution_minutes": -1}}},
        {"stability_window_minutes": 20, "severities": {"P0": {"target_resolution_minutes": 60}}},
        {
            "severities": {
                "P1": {"target_resolution_minutes": 90},
                "P2": {"target_resolution_minutes": "later"},
            }
        },
        {"stability_window_minutes": 20, "escalation_rules": [{"id": 999999, "delete": True}]},
        {"stability_window_minutes": 20, "unknown": True},
        "RULES",
    ],
    ids=[
        "settings+bad-severity-value",
        "settings+unknown-severity",
        "good-P1+bad-P2",
        "settings+unknown-rule",
        "settings+unknown-field",
        "rule-update+bad-rule-create",
    ],
)
def test_a_patch_is_all_or_nothing(api, sre_lead, body):
    client = api(sre_lead)
    before = _in_force(client)
    if body == "RULES":
        rule = before["escalation_rules"][0]
        body = {
            "escalation_rules": [
                {"id": rule["id"], "after_minutes": 42},
                {"id": before["escalation_rules"][1]["id"], "delete": True},
                {"severity": "P2", "trigger": "open", "after_minutes": 0, "target": "nobody"},
            ]
        }

    assert_error(_patch(client, body), 400)

    assert _in_force(client) == before
    assert PolicyChange.objects.count() == 0


def test_ranks_allowed_to_be_ic_can_be_changed(api, sre_lead, ic_user, responder):
    client = api(sre_lead)
    response = _patch(
        client, {"severities": {"P1": {"ic_allowed_ranks": ["engineer", "engineering_manager"]}}}
    )
    assert response.status_code == 200, response.content
    assert response.json()["severities"]["P1"]["ic_allowed_ranks"] == [
        "engineer",
        "engineering_manager",
    ]
    incident = declare(actor=ic_user)
    assigned = api(ic_user).post(
        incident_url(incident, "roles"),
        {"role": "incident_commander", "username": responder.username},
        format="json",
    )
    assert assigned.status_code == 200, assigned.content
