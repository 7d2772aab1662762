"""Who is on call (procedures 9.4), computed from rotations and overrides.

Rotations hand off weekly at a local wall-clock time and may cover only a daily window of
local hours; all arithmetic is on local wall-clock times, so hand-offs stay at the same local
hour across daylight-saving changes (the UTC instant moves instead).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .models import Override, Rotation, Schedule, User

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class OnCall:
    primary: User | None
    backup: User | None
    rotation: Rotation | None


def _local(at: datetime, tz: str) -> datetime:
    return at.astimezone(zoneinfo.ZoneInfo(tz)).replace(tzinfo=None)


def _in_window(rotation: Rotation, local: datetime) -> bool:
    if rotation.shift_start is None:
        return True
    t = local.time()
    start, end = rotation.shift_start, rotation.shift_end
    return start <= t < end if start < end else (t >= start or t < end)


def _turn(rotation: Rotation, local: datetime) -> int:
    """How many weekly hand-offs have happened since the anchor, on the local wall clock."""
    anchor = datetime.combine(rotation.anchor_date, rotation.handoff_time)
    return (local - anchor) // WEEK


def _members(rotation: Rotation) -> list[User]:
    cached = getattr(rotation, "_member_users", None)
    if cached is None:
        cached = [m.user for m in rotation.members.select_related("user").order_by("position")]
        rotation._member_users = cached
    return cached


def _rotations(schedule: Schedule) -> list[Rotation]:
    cached = getattr(schedule, "_rotation_list", None)
    if cached is None:
        cached = list(schedule.rotations.order_by("position", "id"))
        schedule._rotation_list = cached
    return cached


def _overrides(schedule: Schedule, start: datetime, end: datetime) -> list[Override]:
    return list(
        schedule.overrides.filter(starts_at__lt=end, ends_at__gt=start).select_related("user")
    )


def oncall_at(schedule: Schedule, at: datetime, overrides: list[Override] | None = None) -> OnCall:
    """Primary and backup of `schedule` at `at`: overrides first, then the first rotation
    (by position) whose window covers `at`; the backup is the next member of that rotation."""
    if overrides is None:
        overrides = _overrides(schedule, at, at + timedelta(microseconds=1))
    primary = backup = active = None
    for rotation in _rotations(schedule):
        members = _members(rotation)
        local = _local(at, rotation.time_zone)
        if not members or not _in_window(rotation, local):
            continue
        turn = _turn(rotation, local)
        active = rotation
        primary = members[turn % len(members)]
        backup = members[(turn + 1) % len(members)] if len(members) > 1 else None
        break
    for override in overrides:
        if override.starts_at <= at < override.ends_at:
            if override.role == "primary":
                primary = override.user
            else:
                backup = override.user
    return OnCall(primary, backup, active)


def _boundaries(
    schedule: Schedule, start: datetime, end: datetime, overrides
) -> tuple[list[datetime], set[datetime]]:
    """Every instant in [start, end) at which who is on call may change, and which of them are
    weekly hand-offs of a rotation."""
    points = {start.astimezone(UTC)}
    handoffs: set[datetime] = set()
    for rotation in _rotations(schedule):
        tz = zoneinfo.ZoneInfo(rotation.time_zone)
        first: date = _local(start, rotation.time_zone).date() - timedelta(days=1)
        last: date = _local(end, rotation.time_zone).date() + timedelta(days=1)
        day = first
        while day <= last:
            local_times: list[time] = []
            if rotation.shift_start is not None:
                local_times += [rotation.shift_start, rotation.shift_end]
            handoff = (day - rotation.anchor_date).days % 7 == 0
            if handoff:
                local_times.append(rotation.handoff_time)
            for t in local_times:
                instant = datetime.combine(day, t, tzinfo=tz).astimezone(UTC)
                if start < instant < end:
                    points.add(instant)
                    if handoff and t == rotation.handoff_time:
                        handoffs.add(instant)
            day += timedelta(days=1)
    for override in overrides:
        for instant in (override.starts_at, override.ends_at):
            if start < instant < end:
                points.add(instant)
    return sorted(points), handoffs


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime
    primary: User | None
    backup: User | None


def oncall_shifts(
    schedule: Schedule, start: datetime, end: datetime, *, turns: bool = False
) -> list[Shift]:
    """Who is on call over [start, end), as consecutive shifts with their hand-off instants.
    The same people on either side of an instant make one shift, unless `turns` is set and the
    instant is a rotation's weekly hand-off: then each turn is a shift of its own, even when it
    hands over to the same person (a one-member rotation), so a shift starts and ends where
    the rotation does, wherever the window starts (the iCal feed's stable events)."""
    overrides = _overrides(schedule, start, end)
    points, handoffs = _boundaries(schedule, start, end, overrides)
    shifts: list[Shift] = []
    for index, point in enumerate(points):
        until = points[index + 1] if index + 1 < len(points) else end
        now = oncall_at(schedule, point, overrides)
        same = bool(shifts) and (shifts[-1].primary, shifts[-1].backup) == (now.primary, now.backup)
        if same and not (turns and point in handoffs):
            shifts[-1] = Shift(shifts[-1].start, until, now.primary, now.backup)
        else:
            shifts.append(Shift(point, until, now.primary, now.backup))
    return shifts


@dataclass(frozen=True)
class OnCallNow:
    """Who is on call at one instant, for the role rules of 3.1 and 3.3 ("On-call engineer"):
    the primary and backup of every schedule, the owning teams' (the affected services' teams)
    apart from the rest. Each maps a user id to (username, where they are on call)."""

    owning: dict[int, tuple[str, str]]
    elsewhere: dict[int, tuple[str, str]]
    owning_teams: tuple[str, ...]

    def slot(self, user) -> str | None:
        """Where `user` is on call in a way that counts, else None: in the owning teams'
        rotations first; only when nobody is on call there, in any rotation."""
        found = (self.owning or self.elsewhere).get(user.pk)
        return found[1] if found else None

    def describe(self) -> str:
        """Who would count, for a refusal: their names, or that nobody is on call."""
        pool = self.owning or self.elsewhere
        if not pool:
            return "nobody is on call in any rotation now"
        where = f" for {', '.join(self.owning_teams)}" if self.owning else ""
        names = ", ".join(f"{name} ({slot})" for name, slot in pool.values())
        return f"on call now{where}: {names}"


def oncall_now(team_ids: set[int], at: datetime) -> OnCallNow:
    """Primary and backup of every schedule at `at`, split by whether the schedule belongs to
    one of `team_ids` (the owning teams of an incident)."""
    owning: dict[int, tuple[str, str]] = {}
    elsewhere: dict[int, tuple[str, str]] = {}
    teams: list[str] = []
    for schedule in Schedule.objects.select_related("team").order_by("team__name", "name"):
        now = oncall_at(schedule, at)
        pool = owning if schedule.team_id in team_ids else elsewhere
        for slot, user in (("primary", now.primary), ("backup", now.backup)):
            if user is None or not user.is_active:
                continue
            pool.setdefault(user.pk, (user.username, f"{slot}, {schedule.name}"))
            if pool is owning and schedule.team.name not in teams:
                teams.append(schedule.team.name)
    return OnCallNow(owning, elsewhere, tuple(teams))
