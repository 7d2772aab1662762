"""The communications conformance table of a review: each communication deadline of the
incident (procedures 2.1, 6.3), its target time, when it was met, met or missed.

`comms` owns the communication deadlines (`comms.selectors.incident_conformance`); the
review shows its rows, labelled for a reader. pir may import comms
(docs/architecture.md, "Apps")."""

from __future__ import annotations

from comms.selectors import incident_conformance
from incidents.models import Incident

CHANNEL_LABELS = {
    "status_page": "Status page update",
    "internal": "Internal update",
    "customer_email": "Customer email",
    "customer_first": "First customer communication",
}
KIND_LABELS = {"first": "first", "cadence": "cadence", "resolved": "at resolution"}
MET = {"met": True, "missed": False, "pending": None}


def pir_conformance(incident: Incident) -> dict:
    """{"rows": [{deadline, target_at, actual_at, met, late_seconds}], "met", "missed",
    "pending", "met_ratio"}; `met` is True, False, or None while still pending."""
    report = incident_conformance(incident)
    rows = [
        {
            "deadline": f"{CHANNEL_LABELS.get(o['channel'], o['channel'])} #{o['sequence']} "
            f"({KIND_LABELS.get(o['kind'], o['kind'])})",
            "target_at": o["target_at"],
            "actual_at": o["actual_at"],
            "met": MET.get(o["status"]),
            "late_seconds": o.get("late_seconds"),
        }
        for o in report["obligations"]
    ]
    summary = report["summary"]
    return {
        "rows": rows,
        "met": summary["met"],
        "missed": summary["missed"],
        "pending": summary["pending"],
        "met_ratio": summary["met_ratio"],
    }
