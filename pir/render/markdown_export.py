"""The review as Markdown: the procedures' template (8.2) filled in, heading for heading."""

from __future__ import annotations

from ..models import PostIncidentReview
from ..sections import HEADER_FIELDS, HEADINGS, IMPACT_FIELDS
from .context import _impact_value, pir_document


def _cell(text) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _bullets(items) -> list[str]:
    return [f"- {' '.join(str(i).split())}" for i in items if str(i).strip()] or ["- (none)"]


def pir_markdown(pir: PostIncidentReview) -> str:
    doc = pir_document(pir)
    h = HEADINGS
    out = [f"# {doc['title']}", ""]
    out += [f"**{name}:** {doc['header'][name] or '(not set)'}" for name in HEADER_FIELDS]
    out += ["", f"## {h['summary']}", pir.summary.strip() or "(not written)", ""]
    out += [f"## {h['impact']}"]
    out += [
        f"- **{label}:** {_impact_value(pir, field) or '(not known)'}"
        for label, field in IMPACT_FIELDS
    ]
    out += ["", f"## {h['timeline']}", "| Time (UTC) | Event |", "|------------|-------|"]
    out += [f"| {e.occurred_at:%Y-%m-%d %H:%M:%S} | {_cell(e.text)} |" for e in doc["entries"]]
    out += ["", f"## {h['root_cause']}", "", f"### {h['what_happened']}"]
    out += [pir.what_happened.strip() or "(not written)", "", f"### {h['why_it_happened']}"]
    out += [f"{n}. Why? {' '.join(w.split())}" for n, w in enumerate(pir.five_whys, 1)] or [
        "(not written)"
    ]
    out += ["", f"### {h['contributing_factors']}", *_bullets(pir.contributing_factors), ""]
    out += [f"## {h['went_well']}", *_bullets(pir.went_well), ""]
    out += [f"## {h['could_improve']}", *_bullets(pir.could_improve), ""]
    out += [
        f"## {h['action_items']}",
        "| Action | Owner | Priority | Due Date | Status |",
        "|--------|-------|----------|----------|--------|",
    ]
    out += [
        f"| {_cell(a.action)} | {_cell(a.owner or 'needs an owner')} | {a.priority} | "
        f"{a.due_date or 'needs a due date'} | {a.get_status_display()} |"
        for a in doc["action_items"]
    ]
    out += ["", f"## {h['lessons_learned']}", pir.lessons_learned.strip() or "(not written)", ""]
    out += [f"## {h['appendix']}"]
    out += [f"- [{_cell(a['title'])}]({a['url']})" for a in doc["appendix"]] or ["- (none)"]
    conformance = doc["conformance"]
    out += [
        "",
        "### Communications conformance",
        "| Deadline | Target (UTC) | Actual (UTC) | Result |",
        "|----------|--------------|--------------|--------|",
    ]
    for row in conformance["rows"]:
        result = {True: "Met", False: "Missed", None: "Pending"}[row["met"]]
        target = f"{row['target_at']:%Y-%m-%d %H:%M}" if row["target_at"] else "—"
        actual = f"{row['actual_at']:%Y-%m-%d %H:%M}" if row["actual_at"] else "—"
        out.append(f"| {_cell(row['deadline'])} | {target} | {actual} | {result} |")
    return "\n".join(out) + "\n"
