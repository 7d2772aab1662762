"""Action items out: CSV (Jira's CSV importer maps these columns) and JSON in the shape of
Jira's JSON importer (projects -> issues with summary, description, priority, duedate,
labels, assignee)."""

from __future__ import annotations

import io

from incidents.spreadsheets import csv_writer

from ..models import ActionItem

# Our P1-P3 in Jira's default priority scheme.
JIRA_PRIORITY = {"P1": "Highest", "P2": "High", "P3": "Medium"}
JIRA_STATUS = {"open": "To Do", "in_progress": "In Progress", "done": "Done", "wont_do": "Done"}
CSV_COLUMNS = [
    "Summary",
    "Description",
    "Priority",
    "Due Date",
    "Labels",
    "Assignee",
    "Status",
    "Incident",
    "PIR",
    "Owner Team",
    "Created",
    "Completed",
]


def _assignee(item: ActionItem) -> str:
    if item.owner is None:
        return ""
    return item.owner.email or item.owner.username


def _description(item: ActionItem) -> str:
    lines = [item.description.strip()] if item.description.strip() else []
    lines.append(
        f"From {item.pir.reference} of {item.incident.reference} ({item.incident.title}); "
        f"priority {item.priority}; status {item.get_status_display()}."
    )
    return "\n\n".join(lines)


def action_items_csv(items) -> str:
    out = io.StringIO()
    writer = csv_writer(out)  # formula cells neutralised (incidents.spreadsheets)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(
            [
                item.action,
                _description(item),
                JIRA_PRIORITY[item.priority],
                item.due_date.isoformat() if item.due_date else "",
                item.label,
                _assignee(item),
                item.get_status_display(),
                item.incident.reference,
                item.pir.reference,
                item.owner.team.slug if item.owner and item.owner.team else "",
                item.created_at.isoformat(),
                item.completed_at.isoformat() if item.completed_at else "",
            ]
        )
    return out.getvalue()


def action_items_jira(items, *, project_key: str) -> dict:
    return {
        "projects": [
            {
                "key": project_key,
                "issues": [
                    {
                        "externalId": f"tensafe-action-{item.pk}",
                        "issueType": "Task",
                        "summary": item.action,
                        "description": _description(item),
                        "priority": JIRA_PRIORITY[item.priority],
                        "duedate": item.due_date.isoformat() if item.due_date else None,
                        "labels": [item.label],
                        "assignee": _assignee(item) or None,
                        "status": JIRA_STATUS[item.status],
                    }
                    for item in items
                ],
            }
        ]
    }
