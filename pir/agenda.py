"""The PIR meeting agenda (procedures 8.3), as data in one place. The minutes and points are
the procedures' own; `tests/pir/test_procedures.py` parses section 8.3 and holds this to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgendaPart:
    title: str
    minutes: int
    points: tuple[str, ...]


AGENDA = (
    AgendaPart("Introduction", 5, ("Set blameless tone", "Review meeting goals")),
    AgendaPart("Timeline Review", 15, ("Walk through events", "Fill in gaps")),
    AgendaPart("Root Cause Discussion", 20, ("Technical deep dive", "Contributing factors")),
    AgendaPart("Response Evaluation", 10, ("What went well", "What could improve")),
    AgendaPart("Action Item Creation", 15, ("Identify improvements", "Assign owners")),
    AgendaPart("Wrap-up", 5, ("Summarize actions", "Set follow-up")),
)


def agenda_total_minutes() -> int:
    return sum(part.minutes for part in AGENDA)
