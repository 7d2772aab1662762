"""The PIR meeting agenda (procedures 8.3). The parts, minutes and points live with the other
procedures' numbers in incidents/policy.py; `tests/pir/test_procedures.py` parses section 8.3
and holds them to it."""

from __future__ import annotations

from dataclasses import dataclass

from incidents.policy import PIR_AGENDA


@dataclass(frozen=True)
class AgendaPart:
    title: str
    minutes: int
    points: tuple[str, ...]


AGENDA = tuple(AgendaPart(title, minutes, points) for title, minutes, points in PIR_AGENDA)


def agenda_total_minutes() -> int:
    return sum(part.minutes for part in AGENDA)
