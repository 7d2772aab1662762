"""The numbers of the reports page: MTTD, MTTM, MTTR (procedures 1.3) by severity, service and
month, and resolution-target compliance (2.1), over the incidents the user may see. Drills are
left out: they measure the process, not the service."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from incidents.selectors import incident_list_for_user, policy_for
from incidents.states import Severity, Status

METRICS = [
    ("ttd_seconds", "MTTD", "Time to detection: from impact start to detection"),
    ("ttm_seconds", "MTTM", "Time to mitigation: from detection to the fix being in (Monitoring)"),
    ("ttr_seconds", "MTTR", "Time to resolution: from detection to Resolved"),
]
GROUPINGS = [("severity", "by severity"), ("service", "by service"), ("month", "by month")]
NO_SERVICE = "(no service)"


@dataclass
class Stat:
    group: str
    count: int
    mean: float | None
    p50: int | None
    p90: int | None


def _percentile(sorted_values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of an ascending list (the same method as the timer stats)."""
    if not sorted_values:
        return None
    return sorted_values[max(1, math.ceil(fraction * len(sorted_values))) - 1]


def _stat(group: str, values: list[int]) -> Stat:
    values = sorted(values)
    mean = sum(values) / len(values) if values else None
    return Stat(group, len(values), mean, _percentile(values, 0.5), _percentile(values, 0.9))


def _groups(incident, grouping: str) -> list[str]:
    if grouping == "severity":
        return [incident.severity]
    if grouping == "month":
        return [f"{incident.detected_at:%Y-%m}"]
    return [s.name for s in incident.services.all()] or [NO_SERVICE]


def visible_incidents(user) -> list:
    return list(
        incident_list_for_user(user)
        .filter(drill=False)
        .prefetch_related("services")
        .order_by("detected_at")
    )


def duration_stats(incidents: list) -> list[dict]:
    """For each metric and grouping: the groups with count, mean, p50 and p90 (seconds),
    counting only incidents whose two ends are known."""
    out = []
    for attr, name, description in METRICS:
        for grouping, grouping_label in GROUPINGS:
            values: dict[str, list[int]] = defaultdict(list)
            for incident in incidents:
                value = getattr(incident, attr)
                if value is None:
                    continue
                for group in _groups(incident, grouping):
                    values[group].append(value)
            out.append(
                {
                    "metric": name,
                    "description": description,
                    "grouping": grouping,
                    "title": f"{name} {grouping_label}",
                    "stats": [_stat(g, values[g]) for g in sorted(values)],
                }
            )
    return out


@dataclass
class Compliance:
    severity: str
    target_minutes: int
    resolved: int
    within: int

    @property
    def percent(self) -> float | None:
        return 100 * self.within / self.resolved if self.resolved else None


def target_compliance(incidents: list) -> list[Compliance]:
    """Resolved incidents per severity and how many resolved within the target resolution time
    of the policy in force (SeverityPolicy.target_resolution_minutes)."""
    out = []
    for severity in Severity.values:
        target = policy_for(severity).target_resolution_minutes
        resolved = [
            i
            for i in incidents
            if i.severity == severity and i.status == Status.RESOLVED and i.ttr_seconds is not None
        ]
        within = sum(1 for i in resolved if i.ttr_seconds <= target * 60)
        out.append(Compliance(severity, target, len(resolved), within))
    return out
