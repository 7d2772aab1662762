"""The incident's phases over time as an inline SVG chart (one lane per phase: Investigating,
Identified, Monitoring). Coordinates are computed here; the template only draws them."""

from __future__ import annotations

from datetime import datetime, timedelta

from incidents.models import Incident
from incidents.states import Status

from ..selectors import PHASES, incident_phases

WIDTH, LANE_HEIGHT, LABEL_WIDTH, TOP, AXIS_HEIGHT = 680, 26, 110, 8, 30
TICKS = 6
COLOURS = {
    Status.INVESTIGATING: "#d9534f",
    Status.IDENTIFIED: "#f0ad4e",
    Status.MONITORING: "#5bc0de",
}


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds % 60:02d}s" if minutes < 10 else f"{minutes}m"


def phase_chart(incident: Incident) -> dict | None:
    segments = incident_phases(incident)
    if not segments:
        return None
    start: datetime = min(s["start"] for s in segments)
    end: datetime = max(s["end"] for s in segments)
    span = max((end - start).total_seconds(), 1.0)
    plot = WIDTH - LABEL_WIDTH - 30  # room for the last tick label

    def x(at: datetime) -> float:
        return round(LABEL_WIDTH + (at - start).total_seconds() / span * plot, 2)

    lanes = []
    for index, phase in enumerate(PHASES):
        y = TOP + index * LANE_HEIGHT
        bars = [
            {
                "x": x(s["start"]),
                "width": max(round(x(s["end"]) - x(s["start"]), 2), 1.0),
                "y": y + 4,
                "height": LANE_HEIGHT - 8,
                "title": f"{s['start']:%H:%M} to {s['end']:%H:%M}",
            }
            for s in segments
            if s["phase"] == phase
        ]
        total = sum(
            (s["end"] - s["start"]).total_seconds() for s in segments if s["phase"] == phase
        )
        lanes.append(
            {
                "label": Status(phase).label,
                "y": y,
                "text_y": y + LANE_HEIGHT / 2 + 4,
                "colour": COLOURS[phase],
                "bars": bars,
                "total": duration_text(total),
            }
        )
    axis_y = TOP + len(PHASES) * LANE_HEIGHT
    fmt = "%H:%M" if span < 86400 else "%d %b %H:%M"
    ticks = []
    for i in range(TICKS + 1):
        at = start + timedelta(seconds=span * i / TICKS)
        ticks.append({"x": x(at), "label": at.strftime(fmt)})
    return {
        "width": WIDTH,
        "height": axis_y + AXIS_HEIGHT,
        "label_width": LABEL_WIDTH,
        "axis_y": axis_y,
        "tick_label_y": axis_y + 16,
        "lanes": lanes,
        "ticks": ticks,
        "start": start,
        "end": end,
    }
