"""Writes the dashboard composes from the core's services (it never writes models itself)."""

from __future__ import annotations

from django.db import transaction

from incidents import services as core
from incidents.triage import TriageResult


def triage_summary(result: TriageResult) -> str:
    steps = "; ".join(f"{step['text']} {'Yes' if step['answer'] else 'No'}" for step in result.path)
    return f"{steps} ⇒ {result.severity}"


def incident_declare_from_wizard(
    *, actor, triage: TriageResult, override_reason: str = "", **fields
):
    """Declare (4.2) with the flowchart's walk (2.2) recorded on the timeline right after the
    declaration, in the same transaction: the path taken and, when the declarer chose another
    severity than the one proposed, that choice and its reason."""
    severity = fields["severity"]
    with transaction.atomic():
        incident = core.incident_declare(actor=actor, **fields)
        text = f"Severity flowchart (2.2): {triage_summary(triage)}."
        if severity != triage.severity:
            text += (
                f" Severity override: proposed {triage.severity}, declared {severity}. "
                f"Reason: {override_reason.strip()}"
            )
        core.incident_add_note(actor=actor, incident_id=incident.pk, text=text)
    return incident
