"""Presentation helpers: durations and live countdowns. The JavaScript in
static/js/dashboard.js formats exactly like `human_duration`, so the text the server renders
and the text the browser ticks agree."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@register.filter
def duration(seconds):
    return human_duration(seconds)


@register.inclusion_tag("dashboard/_countdown.html")
def countdown(due_at: datetime, label: str = ""):
    """A countdown to `due_at`: "in 4 min 10 s", or OVERDUE (word, icon and label) once past."""
    remaining = (due_at - timezone.now()).total_seconds()
    overdue = remaining < 0
    text = (
        f"OVERDUE by {human_duration(remaining)}" if overdue else f"in {human_duration(remaining)}"
    )
    return {
        "due_iso": due_at.isoformat(),
        "label": label,
        "overdue": overdue,
        "text": text,
        "aria": f"{label}: {text}" if label else text,
    }


@register.inclusion_tag("dashboard/_since.html")
def since(moment: datetime):
    """Time elapsed since `moment`, ticking in the browser."""
    return {
        "iso": moment.isoformat(),
        "text": human_duration((timezone.now() - moment).total_seconds()),
    }


@register.filter
def minutes_duration(minutes):
    return human_duration(None if minutes is None else minutes * 60)


@register.filter
def pct(value):
    return "—" if value is None else f"{value:.0f}%"


@register.filter
def ratio_pct(value):
    return "—" if value is None else f"{100 * value:.0f}%"
