"""Everything the review's page, PDF and Markdown show, decided in one place (templates only
render it)."""

from __future__ import annotations

from incidents.states import Severity

from ..agenda import AGENDA, agenda_total_minutes
from ..conformance import pir_conformance
from ..models import PostIncidentReview
from ..sections import HEADINGS, IMPACT_FIELDS, SECTIONS, pir_missing_sections
from ..selectors import pir_action_items, pir_attendees, pir_entries
from .chart import duration_text, phase_chart
from .markdown import render_markdown, render_markdown_inline


def _impact_value(pir: PostIncidentReview, field: str) -> str:
    value = getattr(pir, field)
    if value in (None, ""):
        return ""
    if field == "sla_impact_minutes":
        return f"{value} minutes of downtime"
    if field == "requests_failed":
        return f"{value:,}"
    return str(value)


def pir_document(pir: PostIncidentReview) -> dict:
    incident = pir.incident
    start = incident.started_at or incident.detected_at
    end = incident.resolved_at
    header = {
        "Incident ID": incident.reference,
        "Date": f"{start:%Y-%m-%d}",
        "Duration": (
            f"{start:%Y-%m-%d %H:%M} UTC to {end:%Y-%m-%d %H:%M} UTC "
            f"({duration_text((end - start).total_seconds())})"
            if end
            else f"{start:%Y-%m-%d %H:%M} UTC to (not resolved)"
        ),
        "Severity": Severity(incident.severity).label,
        "Author": str(pir.author) if pir.author else "",
        "Review Date": f"{pir.review_date:%Y-%m-%d}" if pir.review_date else "",
    }
    return {
        "pir": pir,
        "incident": incident,
        "title": f"Post-Incident Review: {incident.title}",
        "header": header,
        "headings": HEADINGS,
        "sections": SECTIONS,
        "impact": [(label, _impact_value(pir, field)) for label, field in IMPACT_FIELDS],
        "summary_html": render_markdown(pir.summary),
        "what_happened_html": render_markdown(pir.what_happened),
        "lessons_learned_html": render_markdown(pir.lessons_learned),
        "five_whys_html": [render_markdown_inline(w) for w in pir.five_whys],
        "contributing_factors_html": [render_markdown_inline(f) for f in pir.contributing_factors],
        "went_well_html": [render_markdown_inline(w) for w in pir.went_well],
        "could_improve_html": [render_markdown_inline(c) for c in pir.could_improve],
        "appendix": [
            {"title": link.get("title") or link.get("url"), "url": link.get("url", "")}
            for link in pir.appendix_links
        ],
        "entries": list(pir_entries(pir)),
        "action_items": list(pir_action_items(pir)),
        "conformance": pir_conformance(incident),
        "chart": phase_chart(incident),
        "agenda": AGENDA,
        "agenda_minutes": agenda_total_minutes(),
        "attendees": pir_attendees(pir),
        "missing": pir_missing_sections(pir),
        "ttd": duration_text(incident.ttd_seconds),
        "ttm": duration_text(incident.ttm_seconds),
        "ttr": duration_text(incident.ttr_seconds),
    }
