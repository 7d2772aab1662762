"""Writes the dashboard composes from the core's services (it never writes models itself)."""

from __future__ import annotations

from django.db import transaction

from incidents import services as core
from incidents.triage import TriageResult


def triage_summary(result: TriageResult) -> str:
    """Both walks and the proposal, as the timeline note says them."""
    steps = "; ".join(f"{step['text']} {'Yes' if step['answer'] else 'No'}" for step in result.path)
    if result.criteria_matched:
        matched = "; ".join(f"{c['text']} ({c['severity']})" for c in result.criteria_matched)
        criteria = f"matched {matched} ⇒ {result.criteria_severity}"
    else:
        criteria = "none matched"
    return (
        f"Severity flowchart (2.2): {steps} ⇒ {result.flowchart_severity}. "
        f"Severity criteria (2.1): {criteria}. "
        f"Proposed {result.severity} (the more severe)."
    )


def incident_declare_from_wizard(
    *, actor, triage: TriageResult, override_reason: str = "", **fields
):
    """Declare (4.2) with the triage recorded on the timeline right after the declaration, in
    the same transaction: the flowchart's path (2.2), the criteria matched (2.1), the proposal
    and, when the declarer chose another severity than the one proposed, that choice and its
    reason."""
    severity = fields["severity"]
    with transaction.atomic():
        incident = core.incident_declare(actor=actor, **fields)
        text = triage_summary(triage)
        if severity != triage.severity:
            text += (
                f" Severity override: proposed {triage.severity}, declared {severity}. "
                f"Reason: {override_reason.strip()}"
            )
        core.incident_add_note(actor=actor, incident_id=incident.pk, text=text)
    return incident
