"""The review template (8.2), the meeting agenda (8.3) and the attendees (8.1), held to the
procedures document itself (docs/procedures/incident-response-procedures.md)."""

import re

import pytest

from pir.agenda import AGENDA, agenda_total_minutes
from pir.sections import HEADER_FIELDS, IMPACT_FIELDS, SECTIONS
from pir.selectors import pir_attendees
from tests.factories import ServiceFactory, TeamFactory, UserFactory
from tests.test_policy_document import section, table


def _template() -> str:
    text = section("### 8.2 ")
    return text.split("```markdown", 1)[1].split("```", 1)[0]


def test_the_sections_are_the_templates_in_its_order():
    headings = [
        (len(m.group(1)), m.group(2).strip())
        for m in re.finditer(r"^(#{2,3}) (.+)$", _template(), re.MULTILINE)
    ]
    assert headings == [(s.level, s.heading) for s in SECTIONS]


def test_the_header_and_impact_fields_are_the_templates():
    template = _template()
    assert re.findall(r"^\*\*(.+?):\*\*", template, re.MULTILINE) == list(HEADER_FIELDS)
    impact = template.split("## Impact", 1)[1].split("##", 1)[0]
    assert re.findall(r"^- \*\*(.+?):\*\*", impact, re.MULTILINE) == [
        label for label, _field in IMPACT_FIELDS
    ]


def test_the_agenda_is_the_procedures_agenda():
    text = section("### 8.3 ")
    parts = re.findall(r"^\d+\. \*\*(.+?)\*\* \((\d+) min\)\n((?:   - .+\n?)+)", text, re.MULTILINE)
    assert len(parts) == len(AGENDA)
    for (title, minutes, points), part in zip(parts, AGENDA, strict=True):
        assert part.title == title
        assert part.minutes == int(minutes)
        assert part.points == tuple(p.strip()[2:] for p in points.strip().splitlines())
    assert agenda_total_minutes() == sum(int(m) for _t, m, _p in parts)


@pytest.mark.django_db
def test_attendees_follow_the_severity(resolved):
    rows = {row["Severity"]: row for row in table(section("### 8.1 "))}
    team = TeamFactory(slug="payments")
    manager = UserFactory(rank="engineering_manager", team=team, username="em-pay")
    teammate = UserFactory(rank="engineer", team=team, username="payer")
    service = ServiceFactory(slug="pay", team=team)

    p1, ic1 = resolved("P1", services=[service])
    attendees = pir_attendees(p1.pir)
    assert attendees["policy"] == rows["P1"]["Attendees"]
    names = {p["username"]: p["why"] for p in attendees["people"]}
    assert names[ic1.username] == "Incident Commander"
    assert "Management" in names[manager.username]  # "+ management"
    assert teammate.username not in names

    p2, ic2 = resolved("P2", services=[service])
    names = {p["username"] for p in pir_attendees(p2.pir)["people"]}
    assert ic2.username in names and manager.username not in names


@pytest.mark.django_db
def test_the_agenda_endpoint(p1_pir, api):
    pir, ic = p1_pir
    body = api(ic).get(f"/api/v1/pirs/{pir.pk}/agenda/").json()
    assert [a["title"] for a in body["agenda"]] == [a.title for a in AGENDA]
    assert body["total_minutes"] == agenda_total_minutes()
    assert body["attendees"]["people"][0]["username"] == ic.username
