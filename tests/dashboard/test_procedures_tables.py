"""The reference tables the incident page shows are held to the procedures document."""

import re
from pathlib import Path

from django.conf import settings

from dashboard.procedures import (
    MITIGATIONS,
    ROLLBACK_NAMESPACE,
    ROLLBACK_STEPS,
    rollback_command,
    symptom_mitigations,
)

DOC = Path(settings.BASE_DIR) / "docs/procedures/incident-response-procedures.md"


def section(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.index("\n### ", start + len(heading))
    return text[start:end]


def table_rows(text: str) -> list[list[str]]:
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.strip().startswith("|")
    ]
    return [r for r in rows[2:]]  # header and separator


def test_mitigations_are_the_table_of_7_2():
    rows = table_rows(section("### 7.2 Common Mitigation Actions"))
    parsed = {symptom: [m.strip() for m in mitigations.split(",")] for symptom, mitigations in rows}
    assert parsed == MITIGATIONS
    assert list(parsed) == list(MITIGATIONS)  # same order as the document
    assert symptom_mitigations("High error rate") == [
        "Rollback",
        "traffic shift",
        "circuit breaker",
    ]
    assert symptom_mitigations("Cosmic rays") is None


def test_rollback_command_is_7_3_with_the_namespace_of_9_3():
    steps = section("### 7.3 Rollback Procedure")
    template = re.search(r"kubectl rollout undo deployment/\[name\] -n \[namespace\]", steps)
    assert template
    numbered = [re.sub(r"\*\*|:$", "", s).strip() for s in re.findall(r"^\d+\. (.+)$", steps, re.M)]
    assert numbered == ROLLBACK_STEPS
    quick = section("### 9.3 Quick Reference")
    assert f"kubectl rollout undo deployment/[name] -n {ROLLBACK_NAMESPACE}" in quick
    assert rollback_command("api-gateway") == (
        "kubectl rollout undo deployment/api-gateway -n production"
    )
    for bad in ("", "API", "a b", "x;rm", "-lead", "trail-", "a" * 64):
        assert rollback_command(bad) is None, bad
