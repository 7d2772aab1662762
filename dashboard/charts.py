"""Geometry for the reports page's inline SVG bar charts (no chart library, no script).
Each chart also gets a data table in the page, which is the accessible form of the same data."""

from __future__ import annotations

from dataclasses import dataclass

from .templatetags.dashboard_tags import human_duration

WIDTH = 640
LABEL_WIDTH = 150
VALUE_WIDTH = 110
BAR_HEIGHT = 14
BAR_GAP = 3
GROUP_GAP = 14
TOP = 8


@dataclass
class Bar:
    series: int
    x: float
    y: float
    width: float
    height: float
    text: str
    text_x: float


@dataclass
class Group:
    label: str
    label_y: float
    bars: list[Bar]


@dataclass
class Chart:
    width: int
    height: int
    label_width: int
    groups: list[Group]
    series: list[str]


def bar_chart(
    rows: list[tuple[str, list[float | None]]], series: list[str], fmt=human_duration
) -> Chart:
    """Horizontal grouped bars: one group per row, one bar per series value."""
    values = [v for _, vals in rows for v in vals if v is not None]
    top_value = max(values) if values else 0
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    groups = []
    y = TOP
    for label, vals in rows:
        bars = []
        group_top = y
        for index, value in enumerate(vals):
            width = (value / top_value * span) if value and top_value else 0
            text = f"{series[index]} {fmt(value)}" if value is not None else f"{series[index]} —"
            bars.append(
                Bar(
                    index,
                    LABEL_WIDTH,
                    y,
                    max(width, 1 if value else 0),
                    BAR_HEIGHT,
                    text,
                    LABEL_WIDTH + width + 4,
                )
            )
            y += BAR_HEIGHT + BAR_GAP
        groups.append(Group(label, (group_top + y - BAR_GAP) / 2 + 4, bars))
        y += GROUP_GAP
    return Chart(WIDTH, max(int(y), 32), LABEL_WIDTH, groups, series)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"
