"""The policy defaults (incidents/policy.py) and the policy seeded into the database are held
to the procedures document itself (docs/architecture.md, Conventions).

The document is parsed here, section by section, with small regexes and a markdown-table
reader; no number of the procedures is written in this file. Where the document's wording has
to become a policy value ("Every 30 min", "Initial + resolved", "N/A", "Senior Engineer or
above"), the mapping is spelled out below, so a reader can check each one against the text.
"""

import re
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings

from incidents.models import EscalationContact, EscalationRule
from incidents.policy import (
    CHECKLIST_DEFAULTS,
    ESCALATION_CONTACT_DEFAULTS,
    ESCALATION_RULE_DEFAULTS,
    SETTINGS_DEFAULTS,
    SEVERITY_DEFAULTS,
)
from incidents.selectors import policy_for, policy_settings
from incidents.states import Checklist, Rank, Role, Severity, ranks_at_or_above

DOC_PATH = Path(settings.BASE_DIR) / "docs/procedures/incident-response-procedures.md"
SHARED_PATH = Path(settings.BASE_DIR).parent / "shared/procedures/incident-response-procedures.md"
SEVERITIES = [str(s) for s in Severity]

# Policy fields the procedures do not set (each says why in incidents/policy.py).
SETTINGS_NOT_IN_PROCEDURES = {"ack_link_valid_hours"}


# --- reading the document ---------------------------------------------------------------------
@cache
def doc_lines() -> tuple[str, ...]:
    return tuple(DOC_PATH.read_text(encoding="utf-8").splitlines())


def section(heading: str) -> str:
    """The text under the first heading starting with `heading` (e.g. "### 2.1 ", "#### P1 ",
    "## Appendix A"), up to the next heading of the same or a higher level. Lines inside code
    fences are text, never headings."""
    level = len(heading.split(" ", 1)[0])
    lines, out, inside, fenced = doc_lines(), [], False, False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"^(#+) ", line)
        if inside and match and len(match.group(1)) <= level:
            break
        if inside:
            out.append(line)
        elif match and line.startswith(heading):
            inside = True
    assert inside, f"no heading {heading!r} in the procedures"
    return "\n".join(out)


def heading_line(heading: str) -> str:
    return next(line for line in doc_lines() if line.startswith(heading))


def table(text: str) -> list[dict[str, str]]:
    """The first markdown table in `text`, as one dict per row keyed by the header cells."""
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    assert len(rows) >= 3, f"no table in {text[:80]!r}"

    def cells(row):
        return [cell.strip() for cell in row.strip("|").split("|")]

    header = cells(rows[0])
    assert set(rows[1]) <= set("|-: "), "second row is not a header separator"
    return [dict(zip(header, cells(row), strict=True)) for row in rows[2:]]


def bullets_after(text: str, label: str) -> list[str]:
    """The "- item" lines right after the line that starts with `label` (e.g. "**Selection:**")."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(label))
    items = []
    for line in lines[start + 1 :]:
        if not line.startswith("- "):
            break
        items.append(line[2:].strip())
    assert items, f"no bullets after {label!r}"
    return items


def fenced_block(text: str) -> list[str]:
    """Lines of the first ``` code block in `text`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("```"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("```"))
    return lines[start + 1 : end]


def one(pattern: str, text: str, flags=0) -> re.Match:
    matches = list(re.finditer(pattern, text, flags))
    assert len(matches) == 1, f"{pattern!r}: {len(matches)} matches"
    return matches[0]


def by_severity(lines: list[str]) -> dict[str, str]:
    """ "P2/P3: text" bullets -> {"P2": text, "P3": text}."""
    found = {}
    for line in lines:
        match = re.fullmatch(r"((?:P\d/)*P\d): (.+)", line)
        assert match, line
        for severity in match.group(1).split("/"):
            found[severity] = match.group(2)
    return found


# --- the document's wording -> policy values -----------------------------------------------------
UNIT_MINUTES = {"min": 1, "minute": 1, "hour": 60, "day": 24 * 60, "week": 7 * 24 * 60}


def minutes(text: str) -> int:
    """ "30 minutes", "30 min", "1 hour", "hour", "4 hours", "2 hours", "30 days", "1 week"."""
    match = re.fullmatch(r"(?:(\d+) )?(min|minute|hour|day|week)s?", text.strip())
    assert match, f"not a duration: {text!r}"
    return int(match.group(1) or 1) * UNIT_MINUTES[match.group(2)]


def cadence(cell: str) -> int:
    """6.3 cells: "Every 30 min", "Every hour", "Every 4 hours", "Hourly"."""
    if cell == "Hourly":
        return minutes("hour")
    match = re.fullmatch(r"Every (.+)", cell)
    assert match, f"not a cadence: {cell!r}"
    return minutes(match.group(1))


# 6.3 cells that are not a cadence.
STATUS_PAGE_WORDING = {"Initial + resolved": "initial_and_resolved", "N/A": "none"}
CUSTOMER_EMAIL_WORDING = {"End of incident": "end_of_incident", "N/A": "none"}
INTERNAL_WORDING = {"As needed": None}
# 8.1
PIR_WORDING = {"Yes": "required", "Optional": "optional", "No": "none"}
# 8.4
REVIEW_WORDING = {"weekly": 7, "bi-weekly": 14}
# 2.1 response requirement lines that name who is told at declaration; the other lines are
# timings (read below) or say nobody is told.
NOTIFY_WORDING = {
    "All-hands response": ["all_hands"],
    "Executive notification": ["executives"],
    "On-call engineer + backup": ["on_call", "backup_on_call"],
    "Manager notification": ["manager"],
    "On-call engineer": ["on_call"],
    "Assigned to engineering queue": ["engineering_queue"],
}
NOTIFY_NOBODY = {"No immediate action required", "Status page update if customer-visible"}
# 3.1 / 3.3 wording that is not a rank's own name: "support" is the support team, its lead
# included. "On-call engineer" is no rank at all: whoever is on call now (9.4), whatever their
# rank, which the policy says with `*_on_call` (and an SRE lead may override, with a reason).
RANK_WORDING = {
    "support": [Rank.SUPPORT, Rank.SUPPORT_LEAD],
}
ON_CALL_WORDING = "On-call engineer"
RANK_BY_LABEL = {rank.label: str(rank) for rank in Rank}
# 5.1 / 5.3 people -> escalation targets.
TARGET_WORDING = {
    "Backup on-call": "backup_on_call",
    "Backup On-call": "backup_on_call",
    "Engineering Manager": "engineering_manager",
    "VP Engineering": "vp_engineering",
    "CTO": "cto",
    "Security Lead": "security_lead",
    "CEO": "ceo",
}


def ranks(selection: str) -> list[str]:
    """ "Engineering Manager or above" -> the ladder from there up; "A or B" -> A's and B's."""
    if not selection:
        return []
    above = re.fullmatch(r"(.+) or above", selection)
    if above:
        return ranks_at_or_above(RANK_BY_LABEL[above.group(1)])
    found = []
    for part in selection.split(" or "):
        if part != ON_CALL_WORDING:
            found += RANK_WORDING.get(part) or [RANK_BY_LABEL[part]]
    return found


def on_call(selection: str) -> bool:
    """ "On-call engineer" or "On-call engineer or support": being on call now admits anyone."""
    return ON_CALL_WORDING in selection.split(" or ")


# --- what the document says, per policy field -------------------------------------------------
def severity_block(severity: str) -> tuple[str, str]:
    heading = heading_line(f"#### {severity} - ")
    return heading.split(" - ", 1)[1], section(f"#### {severity} - ")


def expected_2_1(severity: str) -> dict:
    name, text = severity_block(severity)
    requirements = bullets_after(text, "**Response Requirements:**")
    joined = "\n".join(requirements)
    status_page = re.search(r"^Status page update within (.+)$", joined, re.M)
    customer = re.search(r"^Customer communication within (.+)$", joined, re.M)
    notify = []
    for line in requirements:
        if line in NOTIFY_WORDING:
            notify += NOTIFY_WORDING[line]
        else:
            timing = re.search(r"within |every ", line, re.I)
            assert timing or line in NOTIFY_NOBODY, f"2.1 {severity}: unmapped {line!r}"
    expected = {
        "name": name,
        "definition": one(r"^\*\*Definition:\*\* (.+)$", text, re.M).group(1),
        "criteria": bullets_after(text, "**Criteria (any of):**"),
        "response_requirements": requirements,
        "notify_at_declaration": notify,
        "status_page_first_minutes": minutes(status_page.group(1)) if status_page else None,
        "customer_first_minutes": minutes(customer.group(1)) if customer else None,
        "target_resolution_minutes": minutes(
            one(r"^\*\*Target Resolution:\*\* (.+)$", text, re.M).group(1)
        ),
    }
    # "Updates every N": 2.1 does not say which updates; 6.3 does. Where the status page has a
    # cadence it is the status page's (P1, P2); otherwise the internal updates' (P3).
    every = re.search(r"every (.+)$", joined, re.M | re.I)
    if every:
        field = (
            "status_page_every_minutes"
            if expected_6_3(severity)["status_page_mode"] == "cadence"
            else "internal_every_minutes"
        )
        expected[field] = minutes(every.group(1))
    return expected


def expected_3(severity: str) -> dict:
    ic = by_severity(bullets_after(section("### 3.1 "), "**Selection:**"))
    comms = by_severity(bullets_after(section("### 3.3 "), "**Selection:**"))
    return {
        "ic_selection": ic[severity],
        "ic_allowed_ranks": ranks(ic[severity]),
        "ic_on_call": on_call(ic[severity]),
        # A severity 3.3 does not name has no comms lead rule ("" / [] / not on call = anyone).
        "comms_lead_selection": comms.get(severity, ""),
        "comms_lead_allowed_ranks": ranks(comms.get(severity, "")),
        "comms_lead_on_call": on_call(comms.get(severity, "")),
    }


def expected_6_1(severity: str) -> dict:
    lines = section("#### Bridge Call").splitlines()
    bridge = by_severity([line[2:] for line in lines if re.match(r"- P\d", line)])
    line = bridge.get(severity, "")
    if line.startswith("Always"):
        return {"bridge": "required"}
    if line.endswith("recommended"):
        return {"bridge": "recommended"}
    assert not line, f"6.1 {severity}: unmapped bridge wording {line!r}"
    return {"bridge": "none"}


def expected_6_3(severity: str) -> dict:
    [row] = [r for r in table(section("### 6.3 ")) if r["Severity"] == severity]
    status_page, internal, email = (
        row["Status Page"],
        row["Internal Updates"],
        row["Customer Email"],
    )
    expected = {}
    if status_page in STATUS_PAGE_WORDING:
        expected |= {"status_page_mode": STATUS_PAGE_WORDING[status_page]}
        expected |= {"status_page_every_minutes": None}
    else:
        expected |= {
            "status_page_mode": "cadence",
            "status_page_every_minutes": cadence(status_page),
        }
    expected["internal_every_minutes"] = (
        INTERNAL_WORDING[internal] if internal in INTERNAL_WORDING else cadence(internal)
    )
    if email in CUSTOMER_EMAIL_WORDING:
        expected |= {"customer_email_mode": CUSTOMER_EMAIL_WORDING[email]}
        expected |= {"customer_email_every_minutes": None}
    else:
        expected |= {
            "customer_email_mode": "cadence",
            "customer_email_every_minutes": cadence(email),
        }
    return expected


def expected_8(severity: str) -> dict:
    [row] = [r for r in table(section("### 8.1 ")) if r["Severity"] == severity]
    reviews = {}
    for line in section("### 8.4 ").splitlines():
        match = re.match(r"^- (P\d) actions reviewed (\S+)", line)
        if match:
            reviews[match.group(1)] = REVIEW_WORDING[match.group(2)]
    due = row["Timeline"]
    return {
        "pir_required": PIR_WORDING[row["PIR Required"]],
        "pir_due_hours": None if due == "N/A" else minutes(due) // 60,
        "pir_attendees": "" if row["Attendees"] == "N/A" else row["Attendees"],
        "action_review_every_days": reviews.get(severity),
    }


# Appendix A "Assign roles (Tech Lead, Comms, Scribe)" in the first minutes: which roles each
# severity fills (roles_required). An IC wherever 2.1 asks for a response at all (3.1 names an
# IC for every severity; P4's "No immediate action required" asks for none); a Communications
# Lead where 3.3 names one; a Technical Lead and a Scribe where 2.1 sends several responders.
NO_RESPONSE = "No immediate action required"
SEVERAL_RESPONDERS = {"All-hands response", "On-call engineer + backup"}


def expected_roles(severity: str) -> dict:
    assert "[ ] Assign roles (Tech Lead, Comms, Scribe)" in section("## Appendix A")
    requirements = bullets_after(severity_block(severity)[1], "**Response Requirements:**")
    if NO_RESPONSE in requirements:
        return {"roles_required": []}
    assert severity in by_severity(bullets_after(section("### 3.1 "), "**Selection:**"))
    comms = by_severity(bullets_after(section("### 3.3 "), "**Selection:**"))
    several = bool(SEVERAL_RESPONDERS & set(requirements))
    roles = [Role.INCIDENT_COMMANDER]
    roles += [Role.TECH_LEAD] if several else []
    roles += [Role.COMMS_LEAD] if severity in comms else []
    roles += [Role.SCRIBE] if several else []
    return {"roles_required": [str(r) for r in roles]}


SEVERITY_SECTIONS = {
    "2.1": expected_2_1,
    "3.1/3.3": expected_3,
    "App. A/2.1/3": expected_roles,
    "6.1": expected_6_1,
    "6.3": expected_6_3,
    "8.1/8.4": expected_8,
}


def expected_escalation_rules() -> list[tuple]:
    rules = []
    for row in table(section("### 5.1 ")):
        condition, target = row["Condition"], row["Escalation"]
        at_once = target.endswith(" immediately")
        target = TARGET_WORDING[target.removesuffix(" immediately")]
        if m := re.fullmatch(r"(P\d) not acknowledged in (.+)", condition):
            rules.append((m.group(1), "unacknowledged", minutes(m.group(2)), target))
        elif m := re.fullmatch(r"(P\d) open > (.+)", condition):
            rules.append((m.group(1), "open", minutes(m.group(2)), target))
        elif condition == "Any security incident":
            assert at_once
            rules.append(("", "security", 0, target))
        else:
            pytest.fail(f"5.1: unmapped condition {condition!r}")
    return rules


def expected_escalation_contacts() -> list[dict]:
    contacts = []
    for row in table(section("### 5.3 ")):
        name = row["Role"]
        p1_only = name.endswith(" (P1 only)")
        name = name.removesuffix(" (P1 only)")
        contacts.append(
            {
                "role": TARGET_WORDING[name],
                "name": name,
                "contact_method": row["Contact Method"],
                "response_minutes": minutes(row["Response Time"]),
                "p1_only": p1_only,
            }
        )
    return contacts


def expected_settings() -> dict:
    appendix = section("## Appendix A")
    first = re.findall(r"^FIRST (\d+) MINUTES$", appendix, re.M)
    assert len(first) == 2
    return {
        "stability_window_minutes": int(
            one(r"Monitoring confirms stability \((\d+)\+ minutes\)", section("### 7.4 ")).group(1)
        ),
        "triage_window_minutes": int(
            one(r"\(First (\d+) Minutes\)", heading_line("### 4.2 ")).group(1)
        ),
        "ic_first_minutes": int(first[0]),
        "ic_roles_within_minutes": int(first[1]),
        "channel_close_after_hours": int(
            one(r"Close incident channel after (\d+)h", appendix).group(1)
        ),
        "bridge_base_url": one(r"^- Link: (\S+)$", section("#### Bridge Call"), re.M).group(1),
        "status_page_url": one(r"^STATUS PAGE\n(\S+)$", section("### 6.2 "), re.M).group(1),
    }


def expected_checklists() -> dict[str, list[tuple[str, str]]]:
    """(text, phase) per checklist, in the document's order."""
    triage = [
        (re.fullmatch(r"\[ \] (.+)", line).group(1), "")
        for line in fenced_block(section("### 4.3 "))
        if line.strip()
    ]
    resolution = [
        (re.fullmatch(r"- \[ \] (.+)", line).group(1), "")
        for line in section("### 7.4 ").splitlines()
        if line.startswith("- [ ]")
    ]
    ic, phase = [], None
    for line in fenced_block(section("## Appendix A")):
        if item := re.fullmatch(r"\[ \] (.+)", line.strip()):
            assert phase, f"Appendix A: {line!r} before any phase"
            ic.append((item.group(1), phase))
        elif line.strip():
            # "FIRST 5 MINUTES" -> "First 5 minutes"; the title line has no items under it.
            phase = line.strip().capitalize()
    return {Checklist.TRIAGE: triage, Checklist.IC: ic, Checklist.RESOLUTION: resolution}


# --- the tests ------------------------------------------------------------------------------------
def test_vendored_copy_is_byte_identical_to_the_shared_procedures():
    if not SHARED_PATH.exists():
        pytest.skip(f"{SHARED_PATH} is not checked out beside this repository")
    assert DOC_PATH.read_bytes() == SHARED_PATH.read_bytes()


def test_the_parser_finds_every_section():
    """Guards the parser itself: an empty parse would make every comparison below vacuous."""
    for severity in SEVERITIES:
        for name, expected in SEVERITY_SECTIONS.items():
            assert expected(severity), (severity, name)
        assert expected_2_1(severity)["criteria"]
        assert expected_2_1(severity)["response_requirements"]
    assert expected_escalation_rules()
    assert expected_escalation_contacts()
    assert all(value is not None for value in expected_settings().values())
    assert all(expected_checklists().values())


def test_every_severity_policy_field_is_held_to_the_document():
    covered = set()
    for expected in SEVERITY_SECTIONS.values():
        for severity in SEVERITIES:
            covered |= set(expected(severity))
    for severity in SEVERITIES:
        assert set(SEVERITY_DEFAULTS[severity]) <= covered, sorted(
            set(SEVERITY_DEFAULTS[severity]) - covered
        )


@pytest.mark.parametrize("where", ["defaults", "database"])
@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("part", SEVERITY_SECTIONS)
def test_severity_policy_matches_the_document(part, severity, where, db):
    expected = SEVERITY_SECTIONS[part](severity)
    if where == "defaults":
        actual = {field: SEVERITY_DEFAULTS[severity][field] for field in expected}
    else:
        row = policy_for(severity)
        actual = {field: getattr(row, field) for field in expected}
    actual = {f: sorted(v) if f.endswith("_ranks") else v for f, v in actual.items()}
    expected = {f: sorted(v) if f.endswith("_ranks") else v for f, v in expected.items()}
    assert actual == expected


@pytest.mark.parametrize("where", ["defaults", "database"])
def test_escalation_rules_match_5_1(where, db):
    if where == "defaults":
        rules = [
            (r["severity"], r["trigger"], r["after_minutes"], r["target"])
            for r in ESCALATION_RULE_DEFAULTS
        ]
    else:
        policy_settings()  # seeds the policy in force
        rules = list(
            EscalationRule.objects.values_list("severity", "trigger", "after_minutes", "target")
        )
    over_target = [r for r in rules if r[1] == "over_target"]
    assert sorted(r for r in rules if r[1] != "over_target") == sorted(expected_escalation_rules())
    # 5.2's "Resolution taking longer than target" is the one rule 5.1's table does not hold.
    assert "- Resolution taking longer than target" in section("### 5.2 ")
    assert [r[:3] for r in over_target] == [("", "over_target", None)]


@pytest.mark.parametrize("where", ["defaults", "database"])
def test_escalation_contacts_match_5_3(where, db):
    fields = ["role", "name", "contact_method", "response_minutes", "p1_only"]
    if where == "defaults":
        contacts = [{f: c[f] for f in fields} for c in ESCALATION_CONTACT_DEFAULTS]
    else:
        policy_settings()
        contacts = list(EscalationContact.objects.values(*fields))
    key = lambda c: c["role"]  # noqa: E731
    assert sorted(contacts, key=key) == sorted(expected_escalation_contacts(), key=key)


@pytest.mark.parametrize("where", ["defaults", "database"])
def test_settings_match_the_document(where, db):
    expected = expected_settings()
    if where == "defaults":
        actual = {field: SETTINGS_DEFAULTS[field] for field in expected}
    else:
        row = policy_settings()
        actual = {field: getattr(row, field) for field in expected}
    assert actual == expected


def test_every_setting_is_held_to_the_document_or_said_not_to_be():
    assert set(SETTINGS_DEFAULTS) - SETTINGS_NOT_IN_PROCEDURES == set(expected_settings())


def test_appendix_a_and_7_4_agree_on_the_stability_window():
    window = expected_settings()["stability_window_minutes"]
    assert f"Verify stability ({window}+ minutes)" in section("## Appendix A")


@pytest.mark.parametrize("checklist", [str(c) for c in Checklist])
def test_checklists_match_the_document(checklist):
    defaults = [(text, phase) for _key, text, phase in CHECKLIST_DEFAULTS[checklist]]
    assert defaults == expected_checklists()[checklist]


def test_checklist_keys_are_unique():
    for items in CHECKLIST_DEFAULTS.values():
        keys = [key for key, _text, _phase in items]
        assert len(keys) == len(set(keys))


# --- the mappings themselves, on wording the document uses ----------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30 minutes", 30),
        ("5 min", 5),
        ("hour", 60),
        ("1 hour", 60),
        ("4 hours", 240),
        ("2 hours", 120),
        ("24 hours", 1440),
        ("30 days", 43200),
        ("1 week", 10080),
        ("2 weeks", 20160),
    ],
)
def test_minutes_reads_the_documents_durations(text, expected):
    assert minutes(text) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("Every 30 min", 30), ("Every hour", 60), ("Hourly", 60), ("Every 4 hours", 240)],
)
def test_cadence_reads_the_documents_cells(cell, expected):
    assert cadence(cell) == expected
