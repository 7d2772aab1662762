"""docs/procedures-map.md maps every checkable rule of the procedures to where it lives, its
kind, whether an SRE lead can change it and the test that holds it. This test keeps the map
honest where it can be checked mechanically:

- every default of `incidents/policy.py` (each severity's fields, each escalation rule and
  contact, each setting, each checklist item, each automatic tick, each agenda part, each team
  escalation) is the `policy:` key of at least one row, enumerated from the module itself, so
  a default added without a row fails here;
- every key a row names is one of those defaults, and what a row says an SRE lead changes is
  kept in the policy tables, not in code;
- every test a row cites exists (tests/doc_citations.py, shared with docs/security.md's test);
- every row names a section the procedures have (the vendored copy that
  tests/test_policy_document.py reads, so a fresh clone without ../shared works).
"""

import fnmatch
import re
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings

from incidents import policy
from tests.doc_citations import CITATION, cited_tests, missing_tests
from tests.test_policy_document import DOC_PATH

BASE = Path(settings.BASE_DIR)
MAP_PATH = BASE / "docs" / "procedures-map.md"
HEADER = ["id", "section", "rule", "where", "kind", "SRE lead", "held by"]
KINDS = {"enforced", "timed", "advisory", "shown-only", "not-implemented"}

# `policy: P1.status_page_first_minutes, P1.customer_first_minutes` in the "where" column.
POLICY_CITATION = re.compile(r"`policy: ([^`]+)`")
# What a policy key looks like (in the "SRE lead" column, where keys stand alone in backticks).
KEY_SHAPE = re.compile(
    r"^(P[1-4*]|escalation|contact|settings|team_escalation|checklist|auto_tick|pir_agenda)\.\S+$"
)
# Defaults kept in code, not in the policy tables: no SRE lead changes them.
CODE_ONLY_PREFIXES = ("checklist.", "auto_tick.", "pir_agenda.")

# Names in incidents.policy that are parts of the tables below, not rules of their own.
BUILDING_BLOCKS = {
    "SUPPORT_RANKS",  # the support ranks of 3.3's "or support" (P2/P3 comms_lead_allowed_ranks)
    "RESOLVE_ACT_KEY",  # names the checklist item checklist.resolution.ic_declares_resolved
    "EVERY_SINGLE_ROLE",  # the roles P1/P2 fill in their first minutes (P1/P2.roles_required)
}


# --- reading the map ------------------------------------------------------------------------------
def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def map_rows(text: str) -> list[dict[str, str]]:
    """Every row of every table in `text`, keyed by HEADER. Every table has that header."""
    rows, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        header = _cells(lines[i])
        assert header == HEADER, f"a table whose header is not {HEADER}: {lines[i]}"
        assert set(lines[i + 1]) <= set("|-: "), f"no separator under {lines[i]}"
        i += 2
        while i < len(lines) and lines[i].startswith("|"):
            cells = _cells(lines[i])
            assert len(cells) == len(HEADER), f"{len(cells)} cells: {lines[i][:80]}"
            rows.append(dict(zip(HEADER, cells, strict=True)))
            i += 1
    return rows


@cache
def rows() -> tuple[dict[str, str], ...]:
    return tuple(map_rows(MAP_PATH.read_text(encoding="utf-8")))


def keys_cited(cell: str) -> list[str]:
    """The `policy:` keys of a "where" cell."""
    return [
        key.strip()
        for citation in POLICY_CITATION.findall(cell)
        for key in citation.split(",")
        if key.strip()
    ]


def keys_changeable(cell: str) -> list[str]:
    """The policy keys of an "SRE lead" cell (other backticked words are data, not policy)."""
    return [word for word in re.findall(r"`([^`]+)`", cell) if KEY_SHAPE.match(word)]


# --- reading the procedures ---------------------------------------------------------------------
def section_ids(text: str) -> set[str]:
    """ "2", "2.1", "Appendix A", … from the headings (`## 1. Overview`, `### 2.1 Severity
    Definitions`, `## Appendix A: …`); lines inside code fences are not headings."""
    ids, fenced = set(), False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        match = (
            None
            if fenced
            else re.match(r"^#{2,6} (?:(\d+(?:\.\d+)*)\.? |(Appendix [A-Z])\b)", line)
        )
        if match:
            ids.add(match.group(1) or match.group(2))
    return ids


def id_prefix(section: str) -> str:
    return "A" if section == "Appendix A" else section


# --- what incidents.policy holds ----------------------------------------------------------------
def _slug(text) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def policy_keys() -> tuple[set[str], list[str]]:
    """Every default of incidents.policy as a key of the map's syntax, and the names of the
    module's constants this function does not know how to enumerate."""
    keys: set[str] = set()
    for severity, fields in policy.SEVERITY_DEFAULTS.items():
        keys |= {f"{severity!s}.{field}" for field in fields}
    for rule in policy.ESCALATION_RULE_DEFAULTS:
        after = f".{rule['after_minutes']}" if rule["after_minutes"] else ""
        keys.add(f"escalation.{rule['severity'] or 'any'}.{rule['trigger']}{after}")
    for contact in policy.ESCALATION_CONTACT_DEFAULTS:
        keys |= {f"contact.{contact['role']}.{f}" for f in contact if f not in ("role", "name")}
    keys |= {f"settings.{field}" for field in policy.SETTINGS_DEFAULTS}
    for checklist, items in policy.CHECKLIST_DEFAULTS.items():
        keys |= {f"checklist.{checklist!s}.{key}" for key, _text, _phase in items}
    keys |= {f"auto_tick.{event}" for event in policy.AUTO_TICKS}
    keys |= {f"pir_agenda.{_slug(title)}" for title, _minutes, _points in policy.PIR_AGENDA}
    known = {
        "SEVERITY_DEFAULTS",
        "ESCALATION_RULE_DEFAULTS",
        "ESCALATION_CONTACT_DEFAULTS",
        "SETTINGS_DEFAULTS",
        "CHECKLIST_DEFAULTS",
        "AUTO_TICKS",
        "PIR_AGENDA",
    }
    unknown = []
    for name, value in sorted(vars(policy).items()):
        if not name.isupper() or name in known or name in BUILDING_BLOCKS:
            continue
        flat = isinstance(value, dict) and all(
            isinstance(v, str | int | bool | None) for v in value.values()
        )
        if name.endswith("_DEFAULTS") and flat:
            # e.g. TEAM_ESCALATION_DEFAULTS {"Platform": rank} -> team_escalation.platform
            prefix = name.removesuffix("_DEFAULTS").lower()
            keys |= {f"{prefix}.{_slug(k)}" for k in value}
        else:
            unknown.append(name)
    return keys, unknown


def covered(patterns: list[str], keys: set[str]) -> set[str]:
    return {key for key in keys for p in patterns if fnmatch.fnmatchcase(key, p)}


# --- the tests ------------------------------------------------------------------------------------
def test_the_map_is_read_whole():
    """Guards the parser: an empty read would make every check below vacuous."""
    assert len(rows()) >= 100
    ids = [row["id"] for row in rows()]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert {row["kind"] for row in rows()} <= KINDS
    assert all(row["rule"] and row["where"] for row in rows())


def test_every_default_of_the_policy_module_has_a_row():
    keys, _unknown = policy_keys()
    cited = [key for row in rows() for key in keys_cited(row["where"])]
    assert sorted(keys - covered(cited, keys)) == []


def test_the_policy_module_holds_nothing_the_map_cannot_enumerate():
    """A new table in incidents/policy.py must be enumerated above (or be a building block of
    one), or its rules could go without a row unnoticed."""
    assert policy_keys()[1] == []


def test_every_key_a_row_names_is_a_default_of_the_policy_module():
    keys, _unknown = policy_keys()
    unknown = [
        f"{row['id']}: {pattern}"
        for row in rows()
        for pattern in keys_cited(row["where"]) + keys_changeable(row["SRE lead"])
        if not covered([pattern], keys)
    ]
    assert unknown == []


def test_what_an_sre_lead_changes_is_in_the_policy_tables():
    wrong = []
    for row in rows():
        cell = row["SRE lead"]
        changeable = keys_changeable(cell)
        if not (cell == "no" or cell.startswith("no (") or changeable):
            wrong.append(f"{row['id']}: neither 'no' nor a policy key: {cell!r}")
        wrong += [
            f"{row['id']}: {k} is code" for k in changeable if k.startswith(CODE_ONLY_PREFIXES)
        ]
    assert wrong == []


def test_every_test_the_map_cites_exists():
    cited = [c for row in rows() for c in cited_tests(row["held by"])]
    assert len(cited) > 150  # the map really names its tests
    assert missing_tests(BASE, cited) == []


def test_a_row_cites_a_test_unless_the_rule_is_not_implemented():
    wrong = []
    for row in rows():
        cites = bool(CITATION.search(row["held by"]))
        if row["kind"] == "not-implemented":
            if cites or row["held by"] != "—":
                wrong.append(f"{row['id']}: not implemented, yet held by {row['held by']!r}")
        elif not cites:
            wrong.append(f"{row['id']}: {row['kind']}, held by no test")
    assert wrong == []


def test_every_row_names_a_section_of_the_procedures():
    sections = section_ids(DOC_PATH.read_text(encoding="utf-8"))
    wrong = [
        f"{row['id']}: section {row['section']!r}"
        for row in rows()
        if row["section"] not in sections
        or not row["id"].startswith(f"{id_prefix(row['section'])}-")
    ]
    assert wrong == []


# --- the readers themselves -----------------------------------------------------------------------
def test_sections_come_from_headings_outside_code_fences():
    text = (
        "## 1. Overview\n### 1.3 Definitions\n#### P1 - Critical\n```markdown\n"
        "## 8. Not a heading\n# Post-Incident Review\n```\n## Appendix A: Cheat Sheet\n"
    )
    assert section_ids(text) == {"1", "1.3", "Appendix A"}
    assert {"2.1", "5.3", "9.4", "Appendix A"} <= section_ids(DOC_PATH.read_text(encoding="utf-8"))


def test_keys_are_read_from_their_columns_and_wildcards_cover_what_they_match():
    where = "`comms.x`; `policy: P1.bridge, P*.pir_attendees` and `policy: settings.a`"
    assert keys_cited(where) == ["P1.bridge", "P*.pir_attendees", "settings.a"]
    assert keys_changeable("`P1.bridge` (wording only), `Service.runbook`") == ["P1.bridge"]
    keys = {"P1.pir_attendees", "P2.pir_attendees", "P1.bridge"}
    assert covered(["P*.pir_attendees"], keys) == {"P1.pir_attendees", "P2.pir_attendees"}


def test_a_table_with_another_header_is_refused():
    with pytest.raises(AssertionError, match="header"):
        map_rows("| id | rule |\n|---|---|\n| x | y |\n")
