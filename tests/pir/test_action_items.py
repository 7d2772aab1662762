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

pytestmark = pytest.mark.django_db


def _add(api, user, pir, **fields):
    fields.setdefault("action", "Add config validation")
    fields.setdefault("priority", "P1")
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
    pir, _ic = p1_pir
    denied = api(viewer).post(
        f"/api/v1/pirs/{pir.pk}/action-items/", {"action": "x", "priority": "P2"}, format="json"
    )
    assert denied.status_code == 403


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
    _add(api, ic, pir, action="Write runbook", priority="P3")
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
