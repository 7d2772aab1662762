"""Action items (8.4): CRUD, completed_at, the incident-action label, metrics by severity and
team, CSV and Jira JSON exports."""

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from pir.models import ActionItem
from tests.factories import TeamFactory, UserFactory
from tests.pir.conftest import legacy_item

pytestmark = pytest.mark.django_db


def _add(api, user, pir, **fields):
    fields.setdefault("action", "Add config validation")
    fields.setdefault("priority", "P1")
    fields.setdefault("owner", user.username)
    fields.setdefault("due_date", "2026-04-01")
    response = api(user).post(f"/api/v1/pirs/{pir.pk}/action-items/", fields, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_crud_and_completed_at(p1_pir, api):
    pir, ic = p1_pir
    owner = UserFactory(username="owner1")
    item = _add(api, ic, pir, owner="owner1", due_date="2026-02-01", description="In CI")
    assert item["label"] == "incident-action"
    assert item["incident"] == pir.incident_id and item["pir"] == pir.pk
    assert item["status"] == "open" and item["completed_at"] is None
    url = f"/api/v1/pirs/{pir.pk}/action-items/{item['id']}/"
    assert (
        api(ic).patch(url, {"status": "in_progress"}, format="json").json()["completed_at"] is None
    )
    done = api(ic).patch(url, {"status": "done"}, format="json").json()
    assert done["completed_at"] is not None and done["closed_at"] is not None
    reopened = api(ic).patch(url, {"status": "open"}, format="json").json()
    assert reopened["completed_at"] is None
    wont = api(ic).patch(url, {"status": "wont_do"}, format="json").json()
    assert wont["completed_at"] is None and wont["closed_at"] is not None
    assert api(ic).get(url).json()["owner"] == owner.username
    assert api(ic).patch(url, {"priority": "P4"}, format="json").status_code == 400
    assert api(ic).patch(url, {"label": "x"}, format="json").status_code == 400  # strict
    assert api(ic).delete(url).status_code == 204
    assert api(ic).get(url).status_code == 404


def test_action_items_stay_editable_after_publication(p1_pir, api):
    from pir import services
    from tests.pir.conftest import fill

    pir, ic = p1_pir
    fill(pir)
    item = _add(api, ic, pir)
    services.pir_transition(actor=ic, pir_id=pir.pk, to="in_review")
    services.pir_transition(actor=ic, pir_id=pir.pk, to="published")
    url = f"/api/v1/pirs/{pir.pk}/action-items/{item['id']}/"
    assert api(ic).patch(url, {"status": "done"}, format="json").status_code == 200


def test_viewers_cannot_change_action_items(p1_pir, api, viewer):
    pir, ic = p1_pir
    body = {"action": "x", "priority": "P2", "owner": viewer.username, "due_date": "2026-04-01"}
    denied = api(viewer).post(f"/api/v1/pirs/{pir.pk}/action-items/", body, format="json")
    assert denied.status_code == 403
    item = _add(api, ic, pir, owner=viewer.username)
    url = f"/api/v1/pirs/{pir.pk}/action-items/{item['id']}/"
    # Not even the item they own: viewers change nothing.
    assert api(viewer).patch(url, {"status": "done"}, format="json").status_code == 403
    assert api(viewer).delete(url).status_code == 403
    assert ActionItem.objects.get(pk=item["id"]).status == "open"


def test_metrics_by_severity_and_team(resolved, api, sre_lead):
    core = TeamFactory(slug="core")
    UserFactory(username="alice", team=core)
    p1, _ = resolved("P1")
    p2, _ = resolved("P2")
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        a = _add(api, sre_lead, p1.pir, owner="alice")
        b = _add(api, sre_lead, p1.pir, owner="alice", priority="P2")
        c = _add(api, sre_lead, p2.pir, priority="P3")
        _add(api, sre_lead, p2.pir, priority="P3", status="wont_do")
    with time_machine.travel(now + timedelta(hours=10), tick=False):
        api(sre_lead).patch(
            f"/api/v1/pirs/{p1.pir.pk}/action-items/{a['id']}/", {"status": "done"}, format="json"
        )
    with time_machine.travel(now + timedelta(hours=30), tick=False):
        api(sre_lead).patch(
            f"/api/v1/pirs/{p2.pir.pk}/action-items/{c['id']}/", {"status": "done"}, format="json"
        )
    body = api(sre_lead).get("/api/v1/pirs/action-items/metrics/").json()
    assert body["overall"]["total"] == 4
    assert body["overall"]["done"] == 2 and body["overall"]["wont_do"] == 1
    assert body["overall"]["completion_rate"] == round(2 / 3, 4)
    by_sev = {row["severity"]: row for row in body["by_severity"]}
    assert by_sev["P1"]["completion_rate"] == 0.5
    assert by_sev["P1"]["time_to_complete_p50_seconds"] == 10 * 3600
    assert by_sev["P2"]["completion_rate"] == 1.0
    assert by_sev["P2"]["time_to_complete_mean_seconds"] == 30 * 3600
    by_team = {row["team"]: row for row in body["by_team"]}
    assert by_team["core"]["total"] == 2 and by_team["core"]["done"] == 1
    assert by_team["unassigned"]["total"] == 2
    assert b["status"] == "open"
    bad = api(sre_lead).get("/api/v1/pirs/action-items/metrics/?since=yesterday")
    assert bad.status_code == 400


def test_csv_and_jira_exports(p1_pir, api):
    pir, ic = p1_pir
    UserFactory(username="bob", email="bob@tensafe.test")
    _add(api, ic, pir, action="Add validation, with commas", owner="bob", due_date="2026-02-01")
    legacy_item(pir, action="Write runbook", priority="P3")  # no owner, no due date
    response = api(ic).get(f"/api/v1/pirs/action-items/csv/?pir={pir.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["Summary"] for r in rows] == ["Add validation, with commas", "Write runbook"]
    assert rows[0]["Labels"] == "incident-action"
    assert rows[0]["Assignee"] == "bob@tensafe.test"
    assert rows[0]["Due Date"] == "2026-02-01"
    assert rows[0]["Priority"] == "Highest"
    jira = api(ic).get(f"/api/v1/pirs/action-items/jira/?incident={pir.incident_id}&project=ops")
    issues = jira.json()["projects"][0]["issues"]
    assert jira.json()["projects"][0]["key"] == "OPS"
    first = issues[0]
    assert {"summary", "description", "priority", "duedate", "labels", "assignee"} <= set(first)
    assert first["labels"] == ["incident-action"]
    assert first["duedate"] == "2026-02-01"
    assert pir.incident.reference in first["description"]
    assert issues[1]["assignee"] is None
    assert api(ic).get("/api/v1/pirs/action-items/csv/?pir=abc").status_code == 400
    assert api(ic).get("/api/v1/pirs/action-items/jira/?project=a;b").status_code == 400


HYPERLINK = '=HYPERLINK("http://x","y")'
CMD = "+cmd|' /C calc'!A0"


def test_csv_cells_that_would_be_formulas_are_neutralised(p1_pir, api):
    """Issue 12, finding 8: a spreadsheet opening the export must read text, never a formula
    (OWASP: a leading single quote on cells beginning with = + - @ tab or CR)."""
    from incidents import services

    pir, ic = p1_pir
    services.incident_update(actor=ic, incident_id=pir.incident_id, title=HYPERLINK)
    UserFactory(username="dash", email="-dash@tensafe.test")
    _add(api, ic, pir, action=HYPERLINK, owner="dash")
    _add(api, ic, pir, action=CMD, description="@SUM(1+1)*cmd|' /C calc'!A0")
    response = api(ic).get(f"/api/v1/pirs/action-items/csv/?pir={pir.pk}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    items = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["Summary"] for r in items] == ["'" + HYPERLINK, "'" + CMD]
    assert items[0]["Assignee"] == "'-dash@tensafe.test"
    assert items[1]["Description"].startswith("'@SUM(1+1)")
    assert f"({HYPERLINK})" in items[0]["Description"]  # the title, inside text: inert


@pytest.mark.parametrize(
    "value, written",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain = text", "plain = text"),
        ("", ""),
        (None, ""),
        (3, 3),
    ],
)
def test_the_one_csv_cell_rule(value, written):
    from incidents.spreadsheets import csv_cell

    assert csv_cell(value) == written


def test_every_csv_export_writes_through_the_one_helper():
    """No module writes CSV with the bare csv.writer: each goes through
    incidents.spreadsheets.csv_writer."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("incidents", "comms", "pir", "dashboard", "integrations", "tensafe_ir")
        for path in (root / app).rglob("*.py")
        if ("csv.writer(" in path.read_text() or "csv.DictWriter(" in path.read_text())
        and path.name != "spreadsheets.py"
    ]
    assert offenders == []


def test_list_filters(resolved, api, sre_lead):
    p1, _ = resolved("P1")
    p2, _ = resolved("P2")
    _add(api, sre_lead, p1.pir)
    _add(api, sre_lead, p2.pir, priority="P2")
    assert api(sre_lead).get("/api/v1/pirs/action-items/").json()["count"] == 2
    only = api(sre_lead).get("/api/v1/pirs/action-items/?severity=P2").json()
    assert [r["pir"] for r in only["results"]] == [p2.pir.pk]
    assert api(sre_lead).get("/api/v1/pirs/action-items/?status=bogus").status_code == 400
    assert ActionItem.objects.count() == 2


# --- owner and due date (8.2, 8.3) -----------------------------------------------------------
def _items_url(pir) -> str:
    return f"/api/v1/pirs/{pir.pk}/action-items/"


@pytest.mark.parametrize(
    ("left_out", "named"),
    [
        ({"owner"}, ["owner"]),
        ({"due_date"}, ["due_date"]),
        ({"owner", "due_date"}, ["owner", "due_date"]),
    ],
)
def test_an_item_without_owner_or_due_date_is_refused_naming_the_field(
    p1_pir, api, left_out, named
):
    pir, ic = p1_pir
    body = {"action": "Add a canary", "priority": "P1", "owner": ic.username}
    body["due_date"] = "2026-04-01"
    body = {k: v for k, v in body.items() if k not in left_out}
    response = api(ic).post(_items_url(pir), body, format="json")
    assert response.status_code == 400
    errors = response.json()
    for field in named:
        assert field in errors and field in errors["detail"]
    assert "needs" in errors["detail"]
    assert not ActionItem.objects.exists()


@pytest.mark.parametrize("field", ["owner", "due_date"])
def test_a_forged_null_owner_or_due_date_is_refused(p1_pir, api, field):
    pir, ic = p1_pir
    body = {"action": "x", "priority": "P1", "owner": ic.username, "due_date": "2026-04-01"}
    response = api(ic).post(_items_url(pir), {**body, field: None}, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not ActionItem.objects.exists()
    item = _add(api, ic, pir)
    url = f"{_items_url(pir)}{item['id']}/"
    response = api(ic).patch(url, {field: None, "status": "done"}, format="json")
    assert response.status_code == 400 and field in response.json()
    stored = ActionItem.objects.get(pk=item["id"])
    assert stored.owner_id is not None and stored.due_date is not None
    assert stored.status == "open"


@pytest.mark.parametrize("field", ["owner", "due_date"])
def test_the_service_refuses_it_whatever_door_it_came_through(p1_pir, field):
    """The rule lives in the service (admin, imports and scripts call it too)."""
    from incidents.errors import RuleViolation
    from pir import services

    pir, ic = p1_pir
    fields = {"owner": ic, "due_date": timezone.localdate(), field: None}
    with pytest.raises(RuleViolation) as refused:
        services.action_item_create(actor=ic, pir_id=pir.pk, action="x", priority="P2", **fields)
    assert refused.value.extra["field"] == field
    assert field in refused.value.detail
    assert not ActionItem.objects.exists()


def test_items_from_before_the_rule_show_what_they_need_and_get_it_on_their_next_change(
    p1_pir, api
):
    pir, ic = p1_pir
    legacy = legacy_item(pir)  # the migration keeps such rows: the columns stay nullable
    url = f"{_items_url(pir)}{legacy.pk}/"
    shown = api(ic).get(url).json()
    assert shown["missing_fields"] == ["owner", "due_date"] and shown["owner"] is None
    listed = api(ic).get(_items_url(pir)).json()
    assert listed[0]["missing_fields"] == ["owner", "due_date"]
    refused = api(ic).patch(url, {"status": "done"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["owner"] and "due_date" in refused.json()["detail"]
    assert ActionItem.objects.get(pk=legacy.pk).status == "open"
    body = {"status": "done", "owner": ic.username, "due_date": "2026-04-01"}
    fixed = api(ic).patch(url, body, format="json").json()
    assert fixed["missing_fields"] == [] and fixed["status"] == "done"


def test_the_review_document_shows_items_needing_an_owner(p1_pir, api, client):
    pir, ic = p1_pir
    legacy_item(pir, action="Old follow-up")
    markdown = api(ic).get(f"/api/v1/pirs/{pir.pk}/markdown/").content.decode()
    assert "| Old follow-up | needs an owner | P1 | needs a due date |" in markdown
    client.force_login(ic)
    page = client.get(f"/pirs/{pir.pk}/").content.decode()
    assert "<td>Old follow-up</td><td>needs an owner</td><td>P1</td><td>needs a due date</td>" in (
        page
    )


# --- who may add and change them ------------------------------------------------------------
def test_only_the_reviews_owners_add_items_and_the_owner_may_update_their_own(
    p1_pir, api, responder
):
    pir, ic = p1_pir
    body = {"action": "x", "priority": "P2", "owner": responder.username}
    body["due_date"] = "2026-04-01"
    denied = api(responder).post(_items_url(pir), body, format="json")
    assert denied.status_code == 403 and "8.3" in denied.json()["detail"]
    theirs = _add(api, ic, pir, owner=responder.username)
    others = _add(api, ic, pir, owner=ic.username)
    own_url = f"{_items_url(pir)}{theirs['id']}/"
    other_url = f"{_items_url(pir)}{others['id']}/"
    # The owner reports progress on their own item...
    assert (
        api(responder).patch(own_url, {"status": "in_progress"}, format="json").status_code == 200
    )
    # ...but changes no one else's, and removes nothing.
    forged = api(responder).patch(other_url, {"owner": responder.username}, format="json")
    assert forged.status_code == 403
    assert api(responder).delete(own_url).status_code == 403
    assert ActionItem.objects.get(pk=others["id"]).owner == ic
    assert ActionItem.objects.count() == 2


# --- two people editing the same item ---------------------------------------------------------
def test_a_stale_edit_is_refused_not_applied(p1_pir, api, sre_lead):
    pir, ic = p1_pir
    item = _add(api, ic, pir)
    url = f"{_items_url(pir)}{item['id']}/"
    assert item["version"] == 1
    first = api(ic).patch(url, {"due_date": "2026-05-01", "version": 1}, format="json")
    assert first.status_code == 200 and first.json()["version"] == 2
    second = api(sre_lead).patch(url, {"due_date": "2026-06-01", "version": 1}, format="json")
    assert second.status_code == 409
    assert second.json()["version"] == 2 and "someone else" in second.json()["detail"]
    assert str(ActionItem.objects.get(pk=item["id"]).due_date) == "2026-05-01"
    again = api(sre_lead).patch(url, {"due_date": "2026-06-01", "version": 2}, format="json")
    assert again.status_code == 200 and again.json()["version"] == 3
    # Without a version, each change applies to what the one before left (the row is locked).
    api(ic).patch(url, {"status": "done"}, format="json")
    api(sre_lead).patch(url, {"priority": "P3"}, format="json")
    stored = ActionItem.objects.get(pk=item["id"])
    assert (stored.status, stored.priority, stored.version) == ("done", "P3", 5)
    checked = api(ic).patch(url, {"version": 5}, format="json")  # changes nothing
    assert checked.status_code == 200 and checked.json()["version"] == 5
    assert api(ic).patch(url, {"version": 4}, format="json").status_code == 409


def test_admin_requires_owner_and_due_date_and_refuses_a_stale_save(p1_pir, client, sre_lead):
    from tests.test_admin import _form_data

    pir, ic = p1_pir
    client.force_login(sre_lead)
    legacy = legacy_item(pir, action="Old follow-up")
    listing = client.get("/admin/pir/actionitem/").content.decode()
    assert "owner, due date" in listing  # the "Needs" column
    url = f"/admin/pir/actionitem/{legacy.pk}/change/"
    data = _form_data(client.get(url))
    data["status"] = "done"
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) >= {"owner", "due_date"}
    assert ActionItem.objects.get(pk=legacy.pk).status == "open"
    data.update(owner=str(ic.pk), due_date="2026-04-01")
    stale = dict(data)
    assert client.post(url, data).status_code == 302
    stored = ActionItem.objects.get(pk=legacy.pk)
    assert (stored.owner, stored.status, stored.version) == (ic, "done", 2)
    stale["status"] = "wont_do"  # a second tab, opened at version 1
    response = client.post(url, stale)
    assert response.status_code == 200
    assert "Someone else changed" in str(response.context["adminform"].form.errors)
    assert ActionItem.objects.get(pk=legacy.pk).status == "done"
