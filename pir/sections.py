"""The PIR document template (procedures 8.2) as data, in one place: the header fields and
sections in the template's order, their headings as the template writes them, and which must
be filled before a review is published. The API, the HTML/PDF page and the Markdown export
all read this list; `tests/pir/test_procedures.py` holds it to the procedures document."""

from __future__ import annotations

from dataclasses import dataclass

from .models import PostIncidentReview

# "**Incident ID:** [ID]" … in the order of the template's header block.
HEADER_FIELDS = ("Incident ID", "Date", "Duration", "Severity", "Author", "Review Date")

# The impact bullets (8.2 "## Impact"), label -> model field.
IMPACT_FIELDS = (
    ("Customers Affected", "customers_affected"),
    ("Requests Failed", "requests_failed"),
    ("Revenue Impact", "revenue_impact"),
    ("SLA Impact", "sla_impact_minutes"),
)


@dataclass(frozen=True)
class Section:
    key: str
    heading: str
    level: int  # 2 for "##", 3 for "###"
    required: bool


SECTIONS = (
    Section("summary", "Summary", 2, True),
    Section("impact", "Impact", 2, True),
    Section("timeline", "Timeline", 2, True),
    Section("root_cause", "Root Cause Analysis", 2, True),
    Section("what_happened", "What Happened", 3, True),
    Section("why_it_happened", "Why It Happened", 3, True),
    Section("contributing_factors", "Contributing Factors", 3, True),
    Section("went_well", "What Went Well", 2, True),
    Section("could_improve", "What Could Be Improved", 2, True),
    Section("action_items", "Action Items", 2, False),
    Section("lessons_learned", "Lessons Learned", 2, True),
    Section("appendix", "Appendix", 2, False),
)
HEADINGS = {s.key: s.heading for s in SECTIONS}


def _blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return not any(str(v).strip() for v in value)
    return False


def pir_missing_sections(pir: PostIncidentReview) -> list[str]:
    """The required parts still empty, named as the template names them (what a refusal to
    publish lists). Revenue impact is "if applicable", requests failed may be unknowable, and
    a review may rightly find no action items or have no appendix: those are optional."""
    checks = [
        ("Author", pir.author_id),
        ("Review Date", pir.review_date),
        (HEADINGS["summary"], pir.summary),
        (f"{HEADINGS['impact']}: Customers Affected", pir.customers_affected),
        (f"{HEADINGS['impact']}: SLA Impact", pir.sla_impact_minutes),
        (HEADINGS["timeline"], pir.entries.exists() or None),
        (HEADINGS["what_happened"], pir.what_happened),
        (HEADINGS["why_it_happened"], pir.five_whys),
        (HEADINGS["contributing_factors"], pir.contributing_factors),
        (HEADINGS["went_well"], pir.went_well),
        (HEADINGS["could_improve"], pir.could_improve),
        (HEADINGS["lessons_learned"], pir.lessons_learned),
    ]
    return [name for name, value in checks if _blank(value)]
