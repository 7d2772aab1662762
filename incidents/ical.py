"""iCalendar (RFC 5545) feeds of on-call shifts, per schedule and per person, built with the
`icalendar` library. Calendar apps fetch them without a session, so each feed's URL carries a
secret token (Schedule.feed_token, User.feed_token)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from icalendar import Calendar, Event

from .models import Schedule, User
from .oncall import Shift, oncall_shifts

FEED_PAST = timedelta(days=7)
FEED_AHEAD = timedelta(days=56)


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//TenSafe IR//On-call//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _event(schedule: Schedule, shift: Shift, who: User, role: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"{schedule.slug}-{role}-{who.pk}-{int(shift.start.timestamp())}@tensafe-ir")
    event.add("dtstamp", stamp)
    # In UTC: a shift boundary carries its rotation's zone, and a TZID would need a VTIMEZONE
    # in the calendar too (RFC 5545 3.2.19).
    event.add("dtstart", shift.start.astimezone(UTC))
    event.add("dtend", shift.end.astimezone(UTC))
    event.add("summary", f"On call ({role}): {schedule.name} — {who}")
    event.add(
        "description",
        f"{role.title()} on call for {schedule.team.name}. {settings.PUBLIC_BASE_URL}",
    )
    return event


# Shifts are computed this far beyond each end of the window, so the first and last events
# keep their real start and end (a weekly rotation hands off within it) instead of the
# window's, which moves with every fetch.
MARGIN = timedelta(days=8)


def _shifts(schedule: Schedule, now: datetime) -> list[Shift]:
    """Shifts overlapping the feed's window, one per rotation turn, with their real starts
    and ends, so an event's UID, start and end stay the same from one fetch to the next."""
    start, end = now - FEED_PAST, now + FEED_AHEAD
    shifts = oncall_shifts(schedule, start - MARGIN, end + MARGIN, turns=True)
    return [s for s in shifts if s.end > start and s.start < end]


def schedule_feed(schedule: Schedule, now: datetime) -> bytes:
    cal = _calendar(f"On call: {schedule.name}")
    for shift in _shifts(schedule, now):
        for role, who in (("primary", shift.primary), ("backup", shift.backup)):
            if who is not None:
                cal.add_component(_event(schedule, shift, who, role, now))
    return cal.to_ical()


def user_feed(user: User, now: datetime) -> bytes:
    cal = _calendar(f"On call: {user}")
    schedules = (
        Schedule.objects.filter(rotations__members__user=user).select_related("team").distinct()
    )
    extra = Schedule.objects.filter(overrides__user=user).select_related("team").distinct()
    for schedule in {s.pk: s for s in [*schedules, *extra]}.values():
        for shift in _shifts(schedule, now):
            for role, who in (("primary", shift.primary), ("backup", shift.backup)):
                if who is not None and who.pk == user.pk:
                    cal.add_component(_event(schedule, shift, who, role, now))
    return cal.to_ical()
