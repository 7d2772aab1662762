"""Who is on call (procedures 9.4): weekly rotations handing off at a local wall-clock time,
follow-the-sun windows across three time zones, daylight-saving changes, overrides, shifts,
the iCalendar feeds and the on-call API."""

import itertools
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import pytest
from icalendar import Calendar

from incidents.models import Override, Team
from incidents.oncall import oncall_at, oncall_shifts
from tests.factories import UserFactory
from tests.timers.conftest import T0, make_schedule

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def names(oncall) -> tuple:
    return (
        oncall.primary.username if oncall.primary else None,
        oncall.backup.username if oncall.backup else None,
    )


def shift_rows(shifts) -> list[tuple]:
    return [
        (
            s.start.astimezone(UTC),
            s.end.astimezone(UTC),
            s.primary.username if s.primary else None,
            s.backup.username if s.backup else None,
        )
        for s in shifts
    ]


@pytest.fixture
def trio(db):
    return [UserFactory(username=name) for name in ("ann", "ben", "cat")]


@pytest.fixture
def platform(db):
    return Team.objects.get(slug="platform")


# --- weekly rotation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 1, 5, 9, 0), ("ann", "ben")),  # the anchor hand-off itself
        (utc(2026, 1, 7, 12, 0), ("ann", "ben")),
        (utc(2026, 1, 14, 12, 0), ("ben", "cat")),
        (utc(2026, 1, 21, 12, 0), ("cat", "ann")),
        (utc(2026, 1, 28, 12, 0), ("ann", "ben")),  # round again
        (utc(2025, 12, 31, 12, 0), ("cat", "ann")),  # the week before the anchor
        (utc(2026, 1, 5, 8, 59, 59), ("cat", "ann")),
    ],
)
def test_weekly_rotation_takes_turns(platform, trio, at, expected):
    schedule = make_schedule(platform, "weekly", [{"members": trio}])
    assert names(oncall_at(schedule, at)) == expected


def test_hand_off_happens_exactly_at_the_local_hand_off_time(platform, trio):
    # 09:00 in New York in January is 14:00 UTC.
    schedule = make_schedule(
        platform, "ny", [{"members": trio, "tz": "America/New_York", "handoff": dtime(9, 0)}]
    )
    assert names(oncall_at(schedule, utc(2026, 1, 12, 13, 59, 59, 999999))) == ("ann", "ben")
    assert names(oncall_at(schedule, utc(2026, 1, 12, 14, 0))) == ("ben", "cat")
    # The anchor day itself: before 09:00 local it is still the previous member's week.
    assert names(oncall_at(schedule, utc(2026, 1, 5, 13, 59))) == ("cat", "ann")
    assert names(oncall_at(schedule, utc(2026, 1, 5, 14, 0))) == ("ann", "ben")


def test_single_member_rotation_has_no_backup(platform, trio):
    schedule = make_schedule(platform, "solo", [{"members": trio[:1]}])
    assert names(oncall_at(schedule, T0)) == ("ann", None)


def test_schedule_without_rotations_has_nobody(platform):
    schedule = make_schedule(platform, "empty", [])
    now = oncall_at(schedule, T0)
    assert (now.primary, now.backup, now.rotation) == (None, None, None)


# --- daylight saving -----------------------------------------------------------------------------
@pytest.fixture
def london(platform, trio):
    """Europe/London, hand-off Mondays 09:00 local, anchored Monday 2026-03-16 (GMT)."""
    return make_schedule(
        platform,
        "london",
        [{"members": trio, "tz": "Europe/London", "anchor": date(2026, 3, 16)}],
    )


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Before the change (GMT): 09:00 local is 09:00 UTC.
        (utc(2026, 3, 23, 8, 59, 59), ("ann", "ben")),
        (utc(2026, 3, 23, 9, 0), ("ben", "cat")),
        # Clocks go forward on Sunday 2026-03-29: Monday 09:00 BST is 08:00 UTC.
        (utc(2026, 3, 30, 7, 59, 59), ("ben", "cat")),
        (utc(2026, 3, 30, 8, 0), ("cat", "ann")),
        (utc(2026, 3, 30, 9, 0), ("cat", "ann")),
        # Still summer time on Monday 2026-10-19: 08:00 UTC.
        (utc(2026, 10, 19, 7, 59, 59), ("ann", "ben")),
        (utc(2026, 10, 19, 8, 0), ("ben", "cat")),
        # Clocks go back on Sunday 2026-10-25: Monday 09:00 GMT is 09:00 UTC again.
        (utc(2026, 10, 26, 8, 0), ("ben", "cat")),
        (utc(2026, 10, 26, 8, 59, 59), ("ben", "cat")),
        (utc(2026, 10, 26, 9, 0), ("cat", "ann")),
    ],
)
def test_london_monday_0900_hand_off_stays_at_0900_local_across_dst(london, at, expected):
    assert names(oncall_at(london, at)) == expected


def test_shifts_over_the_spring_change_are_an_hour_short(london):
    shifts = oncall_shifts(london, utc(2026, 3, 23, 0, 0), utc(2026, 4, 6, 0, 0))
    assert shift_rows(shifts) == [
        (utc(2026, 3, 23, 0, 0), utc(2026, 3, 23, 9, 0), "ann", "ben"),
        (utc(2026, 3, 23, 9, 0), utc(2026, 3, 30, 8, 0), "ben", "cat"),
        (utc(2026, 3, 30, 8, 0), utc(2026, 4, 6, 0, 0), "cat", "ann"),
    ]
    (_, (start, end, *_), _) = shift_rows(shifts)
    assert end - start == timedelta(days=7) - timedelta(hours=1)


def test_shifts_over_the_autumn_change_are_an_hour_long(london):
    shifts = oncall_shifts(london, utc(2026, 10, 19, 0, 0), utc(2026, 10, 27, 0, 0))
    assert shift_rows(shifts) == [
        (utc(2026, 10, 19, 0, 0), utc(2026, 10, 19, 8, 0), "ann", "ben"),
        (utc(2026, 10, 19, 8, 0), utc(2026, 10, 26, 9, 0), "ben", "cat"),
        (utc(2026, 10, 26, 9, 0), utc(2026, 10, 27, 0, 0), "cat", "ann"),
    ]
    (_, (start, end, *_), _) = shift_rows(shifts)
    assert end - start == timedelta(days=7, hours=1)


# --- follow-the-sun ------------------------------------------------------------------------------
@pytest.fixture
def sun(db):
    """Support's follow-the-sun: Singapore 08-16 SGT, London 08-16, New York 11-19, each its
    own weekly pair. In January (no DST anywhere) the windows tile the UTC day: 00-08, 08-16,
    16-24."""
    support = Team.objects.get(slug="support")
    people = {n: UserFactory(username=n) for n in ("sg1", "sg2", "ld1", "ld2", "ny1", "ny2")}
    rotations = [
        ("Asia/Singapore", (dtime(8), dtime(16)), ["sg1", "sg2"]),
        ("Europe/London", (dtime(8), dtime(16)), ["ld1", "ld2"]),
        ("America/New_York", (dtime(11), dtime(19)), ["ny1", "ny2"]),
    ]
    return make_schedule(
        support,
        "support-sun",
        [
            {
                "name": tz,
                "tz": tz,
                "window": window,
                "handoff": window[0],
                "members": [people[m] for m in members],
            }
            for tz, window, members in rotations
        ],
        kind="follow_the_sun",
    )


@pytest.mark.parametrize(
    ("at", "expected", "rotation"),
    [
        (utc(2026, 1, 7, 0, 0), ("sg1", "sg2"), "Asia/Singapore"),
        (utc(2026, 1, 7, 7, 59, 59), ("sg1", "sg2"), "Asia/Singapore"),
        (utc(2026, 1, 7, 8, 0), ("ld1", "ld2"), "Europe/London"),
        (utc(2026, 1, 7, 15, 59, 59), ("ld1", "ld2"), "Europe/London"),
        (utc(2026, 1, 7, 16, 0), ("ny1", "ny2"), "America/New_York"),
        (utc(2026, 1, 7, 23, 59, 59), ("ny1", "ny2"), "America/New_York"),
        # Week 1 after the Monday 2026-01-12 hand-offs.
        (utc(2026, 1, 14, 3, 0), ("sg2", "sg1"), "Asia/Singapore"),
        (utc(2026, 1, 14, 20, 0), ("ny2", "ny1"), "America/New_York"),
    ],
)
def test_follow_the_sun_hands_over_between_regions(sun, at, expected, rotation):
    now = oncall_at(sun, at)
    assert names(now) == expected
    assert now.rotation.name == rotation


def test_follow_the_sun_shifts_tile_a_winter_day(sun):
    shifts = oncall_shifts(sun, utc(2026, 1, 7, 0, 0), utc(2026, 1, 8, 0, 0))
    assert shift_rows(shifts) == [
        (utc(2026, 1, 7, 0, 0), utc(2026, 1, 7, 8, 0), "sg1", "sg2"),
        (utc(2026, 1, 7, 8, 0), utc(2026, 1, 7, 16, 0), "ld1", "ld2"),
        (utc(2026, 1, 7, 16, 0), utc(2026, 1, 8, 0, 0), "ny1", "ny2"),
    ]


def test_follow_the_sun_in_a_dst_week_windows_shift_in_utc(sun):
    # 2026-03-16: New York is on EDT (since 03-08), London still on GMT (until 03-29).
    # New York 11-19 EDT is 15-23 UTC: it overlaps London 15-16 (the lower position, London,
    # wins) and leaves 23-24 UTC uncovered.
    shifts = oncall_shifts(sun, utc(2026, 3, 16, 0, 0), utc(2026, 3, 17, 0, 0))
    assert shift_rows(shifts) == [
        (utc(2026, 3, 16, 0, 0), utc(2026, 3, 16, 8, 0), "sg1", "sg2"),
        (utc(2026, 3, 16, 8, 0), utc(2026, 3, 16, 16, 0), "ld1", "ld2"),
        (utc(2026, 3, 16, 16, 0), utc(2026, 3, 16, 23, 0), "ny1", "ny2"),
        (utc(2026, 3, 16, 23, 0), utc(2026, 3, 17, 0, 0), None, None),
    ]
    # 2026-04-01: London is on BST too, so London is 07-15 UTC and hands to New York at 15:00.
    # (Week 12 since the anchor: the first member of each pair again.)
    assert names(oncall_at(sun, utc(2026, 4, 1, 7, 30))) == ("sg1", "sg2")  # Singapore wins
    assert names(oncall_at(sun, utc(2026, 4, 1, 15, 0))) == ("ny1", "ny2")
    assert names(oncall_at(sun, utc(2026, 4, 1, 14, 59))) == ("ld1", "ld2")
    assert names(oncall_at(sun, utc(2026, 4, 1, 23, 30))) == (None, None)


# --- overrides -----------------------------------------------------------------------------------
def test_primary_override_wins_over_the_rotation(platform, trio):
    schedule = make_schedule(platform, "weekly", [{"members": trio}])
    cover = UserFactory(username="cover")
    Override.objects.create(
        schedule=schedule,
        user=cover,
        role="primary",
        starts_at=utc(2026, 1, 7, 10),
        ends_at=utc(2026, 1, 7, 14),
    )
    assert names(oncall_at(schedule, utc(2026, 1, 7, 9, 59, 59))) == ("ann", "ben")
    assert names(oncall_at(schedule, utc(2026, 1, 7, 10))) == ("cover", "ben")
    assert names(oncall_at(schedule, utc(2026, 1, 7, 13, 59, 59))) == ("cover", "ben")
    assert names(oncall_at(schedule, utc(2026, 1, 7, 14))) == ("ann", "ben")


def test_backup_override_replaces_only_the_backup(platform, trio):
    schedule = make_schedule(platform, "weekly", [{"members": trio}])
    cover = UserFactory(username="cover")
    Override.objects.create(
        schedule=schedule,
        user=cover,
        role="backup",
        starts_at=utc(2026, 1, 7, 10),
        ends_at=utc(2026, 1, 8),
    )
    assert names(oncall_at(schedule, utc(2026, 1, 7, 12))) == ("ann", "cover")


def test_override_covers_a_gap_with_no_rotation(sun):
    cover = UserFactory(username="cover")
    Override.objects.create(
        schedule=sun,
        user=cover,
        role="primary",
        starts_at=utc(2026, 3, 16, 23),
        ends_at=utc(2026, 3, 17),
    )
    assert names(oncall_at(sun, utc(2026, 3, 16, 23, 30))) == ("cover", None)


def test_shifts_split_at_overrides_and_are_contiguous(platform, trio):
    schedule = make_schedule(platform, "weekly", [{"members": trio}])
    cover = UserFactory(username="cover")
    Override.objects.create(
        schedule=schedule,
        user=cover,
        role="primary",
        starts_at=utc(2026, 1, 7, 10),
        ends_at=utc(2026, 1, 7, 14),
    )
    start, end = utc(2026, 1, 6), utc(2026, 1, 20)
    shifts = oncall_shifts(schedule, start, end)
    assert shift_rows(shifts) == [
        (utc(2026, 1, 6), utc(2026, 1, 7, 10), "ann", "ben"),
        (utc(2026, 1, 7, 10), utc(2026, 1, 7, 14), "cover", "ben"),
        (utc(2026, 1, 7, 14), utc(2026, 1, 12, 9), "ann", "ben"),
        (utc(2026, 1, 12, 9), utc(2026, 1, 19, 9), "ben", "cat"),
        (utc(2026, 1, 19, 9), utc(2026, 1, 20), "cat", "ann"),
    ]
    assert shifts[0].start == start and shifts[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(shifts))


def test_consecutive_equal_segments_are_merged(platform):
    # The same pair covers two adjacent windows: one shift, not two; a daily window boundary
    # in an all-week single-member rotation changes nothing either.
    pat, pam = UserFactory(username="pat"), UserFactory(username="pam")
    schedule = make_schedule(
        platform,
        "merged",
        [
            {"members": [pat, pam], "window": (dtime(0), dtime(12))},
            {"members": [pat, pam], "window": (dtime(12), dtime(0))},
        ],
    )
    shifts = oncall_shifts(schedule, utc(2026, 1, 6), utc(2026, 1, 9))
    assert shift_rows(shifts) == [(utc(2026, 1, 6), utc(2026, 1, 9), "pat", "pam")]


# --- iCalendar feeds -----------------------------------------------------------------------------
def events(body: bytes) -> list[dict]:
    cal = Calendar.from_ical(body)
    return [
        {
            "start": e.decoded("dtstart").astimezone(UTC),
            "end": e.decoded("dtend").astimezone(UTC),
            "summary": str(e["summary"]),
            "uid": str(e["uid"]),
        }
        for e in cal.walk("VEVENT")
    ]


def test_schedule_feed_is_valid_icalendar_with_the_shifts(client, org, time_machine):
    time_machine.move_to(T0, tick=False)
    response = client.get(f"/oncall/ical/schedule/{org.schedule.feed_token}.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    assert str(cal["version"]) == "2.0"
    assert str(cal["prodid"]) == "-//TenSafe IR//On-call//EN"
    got = events(response.content)
    # Feed window: T0 - 7 days .. T0 + 56 days; hand-offs Mondays 09:00 UTC. The first shift
    # keeps its real start (the hand-off before the window), so its UID is stable.
    primary = sorted(
        (e["start"], e["end"], e["summary"]) for e in got if "(primary)" in e["summary"]
    )
    assert primary[0] == (
        utc(2025, 12, 29, 9),
        utc(2026, 1, 5, 9),
        "On call (primary): Platform-Primary — carol",
    )
    assert primary[1] == (
        utc(2026, 1, 5, 9),
        utc(2026, 1, 12, 9),
        "On call (primary): Platform-Primary — alice",
    )
    assert primary[2] == (
        utc(2026, 1, 12, 9),
        utc(2026, 1, 19, 9),
        "On call (primary): Platform-Primary — bob",
    )
    # The last shift keeps its real end too (the window ends Wednesday T0 + 56 days).
    assert primary[-1][:2] == (utc(2026, 3, 2, 9), utc(2026, 3, 9, 9))
    assert len(primary) == 10  # the week before, 8 full weeks, the one the window ends in
    backup = [e for e in got if "(backup)" in e["summary"]]
    assert (utc(2026, 1, 5, 9), utc(2026, 1, 12, 9)) in [
        (e["start"], e["end"]) for e in backup if "bob" in e["summary"]
    ]
    assert len({e["uid"] for e in got}) == len(got)


def test_a_one_member_rotation_keeps_its_events_from_one_fetch_to_the_next(
    client, platform, time_machine
):
    """The same person every week is still one event per weekly turn, starting and ending at
    the hand-offs: fetched an hour or three days later, every event still in the window has
    the same UID, start and end, so calendar apps update nothing."""
    solo = UserFactory(username="solo")
    schedule = make_schedule(platform, "solo", [{"members": [solo]}])
    url = f"/oncall/ical/schedule/{schedule.feed_token}.ics"

    def fetch(at):
        time_machine.move_to(at, tick=False)
        return {(e["uid"], e["start"], e["end"]) for e in events(client.get(url).content)}

    first, later, days_later = (
        fetch(T0),
        fetch(T0 + timedelta(hours=1, seconds=7)),
        fetch(T0 + timedelta(days=3)),
    )

    assert first == later
    assert all(start.weekday() == 0 and start.hour == 9 for _, start, _ in first)
    assert all(end - start == timedelta(days=7) for _, start, end in first)
    window = (T0 + timedelta(days=3) - timedelta(days=7), T0 + timedelta(days=59))
    assert {e for e in first if e[2] > window[0] and e[1] < window[1]} <= days_later


def test_feed_time_zones_are_defined_in_the_calendar(client, platform, trio, time_machine):
    # RFC 5545 3.2.19: every TZID a property names needs its VTIMEZONE in the same object.
    schedule = make_schedule(
        platform, "london", [{"members": trio, "tz": "Europe/London", "anchor": date(2026, 3, 16)}]
    )
    time_machine.move_to(utc(2026, 3, 25, 12), tick=False)
    body = client.get(f"/oncall/ical/schedule/{schedule.feed_token}.ics").content
    cal = Calendar.from_ical(body)
    defined = {str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")}
    used = {
        str(e[prop].params["TZID"])
        for e in cal.walk("VEVENT")
        for prop in ("dtstart", "dtend")
        if "TZID" in e[prop].params
    }
    assert used <= defined, f"TZIDs without VTIMEZONE: {used - defined}"
    # The spring hand-off lands at 08:00 UTC in the feed.
    starts = {
        (e["start"], e["summary"].rsplit(" ", 1)[-1])
        for e in events(body)
        if "(primary)" in e["summary"]
    }
    assert (utc(2026, 3, 30, 8), "cat") in starts


def test_user_feed_holds_only_that_persons_shifts(client, org, time_machine):
    time_machine.move_to(T0, tick=False)
    response = client.get(f"/oncall/ical/user/{org.backup.feed_token}.ics")
    assert response.status_code == 200
    got = events(response.content)
    assert got and all(e["summary"].endswith("— bob") for e in got)
    roles = {(e["start"], e["summary"].split(" ")[2]) for e in got}
    assert (utc(2026, 1, 5, 9), "(backup):") in roles
    assert (utc(2026, 1, 12, 9), "(primary):") in roles


def test_unknown_feed_token_is_404(client, org):
    assert client.get("/oncall/ical/schedule/not-a-token.ics").status_code == 404
    assert client.get("/oncall/ical/user/not-a-token.ics").status_code == 404


# --- the API -------------------------------------------------------------------------------------
def test_who_is_on_call_for_a_team_at_a_time(api, org, viewer):
    response = api(viewer).get(
        "/api/v1/oncall/", {"team": "platform", "at": "2026-01-14T12:00:00Z"}
    )
    assert response.status_code == 200, response.content
    (row,) = response.json()
    assert row["schedule"] == "platform-primary"
    assert row["team"] == "platform"
    assert row["primary"]["username"] == "bob"
    assert row["backup"]["username"] == "carol"
    assert row["next_handoffs"][0]["at"].startswith("2026-01-19T09:00:00")
    assert row["next_handoffs"][0]["primary"]["username"] == "carol"
    assert row["ical_url"].endswith(f"/oncall/ical/schedule/{org.schedule.feed_token}.ics")


def test_on_call_with_a_local_offset_and_all_teams(api, org, viewer):
    # 10:00+01:00 is 09:00 UTC, the Monday hand-off itself.
    response = api(viewer).get("/api/v1/oncall/", {"at": "2026-01-12T10:00:00+01:00"})
    assert response.status_code == 200
    by_schedule = {
        r["schedule"]: (r["primary"]["username"], r["backup"]["username"]) for r in response.json()
    }
    assert by_schedule == {
        "platform-primary": ("bob", "carol"),
        "security-primary": ("erin", "dave"),
    }


def test_on_call_for_an_unknown_team_is_empty(api, org, viewer):
    assert api(viewer).get("/api/v1/oncall/", {"team": "nope"}).json() == []


@pytest.mark.parametrize("at", ["yesterday", "2026-01-14T12:00:00", "2026-13-01T00:00:00Z"])
def test_on_call_with_a_bad_time_is_400(api, org, viewer, at):
    response = api(viewer).get("/api/v1/oncall/", {"team": "platform", "at": at})
    assert response.status_code == 400
    assert response.json()["rule"] == "at is an ISO 8601 time with offset"


def test_on_call_needs_authentication(api, org):
    assert api().get("/api/v1/oncall/").status_code in (401, 403)


def test_schedule_shifts_api(api, org, viewer):
    response = api(viewer).get(
        "/api/v1/schedules/platform-primary/shifts/",
        {"start": "2026-01-10T00:00:00Z", "end": "2026-01-20T00:00:00Z"},
    )
    assert response.status_code == 200, response.content
    shifts = response.json()["shifts"]
    assert [
        (s["start"], s["end"], s["primary"]["username"], s["backup"]["username"]) for s in shifts
    ] == [
        ("2026-01-10T00:00:00Z", "2026-01-12T09:00:00Z", "alice", "bob"),
        ("2026-01-12T09:00:00Z", "2026-01-19T09:00:00Z", "bob", "carol"),
        ("2026-01-19T09:00:00Z", "2026-01-20T00:00:00Z", "carol", "alice"),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-01-10T00:00:00Z", "end": "2026-01-09T00:00:00Z"},
        {"start": "2026-01-10T00:00:00Z", "end": "2026-06-10T00:00:00Z"},
        {"start": "soon"},
    ],
)
def test_schedule_shifts_bad_range_is_400(api, org, viewer, params):
    response = api(viewer).get("/api/v1/schedules/platform-primary/shifts/", params)
    assert response.status_code == 400


def test_schedule_shifts_unknown_schedule_is_404(api, org, viewer):
    assert api(viewer).get("/api/v1/schedules/nope/shifts/").status_code == 404


def test_my_feed_url(api, org):
    response = api(org.primary).get("/api/v1/oncall/me/feed/")
    assert response.status_code == 200
    assert response.json()["ical_url"].endswith(f"/oncall/ical/user/{org.primary.feed_token}.ics")


# --- escalation contacts (5.3) resolved to people ------------------------------------------------
def test_escalation_contacts_resolve_to_people_with_response_times(api, org, viewer, time_machine):
    time_machine.move_to(T0, tick=False)
    response = api(viewer).get("/api/v1/escalation-contacts/")
    assert response.status_code == 200
    rows = {r["role"]: r for r in response.json()}
    assert {role: r["response_minutes"] for role, r in rows.items()} == {
        "backup_on_call": 5,
        "engineering_manager": 10,
        "vp_engineering": 15,
        "cto": 15,
        "security_lead": 5,
        "ceo": 30,
    }
    people = {role: [p["username"] for p in r["people"]] for role, r in rows.items()}
    assert people == {
        "backup_on_call": ["bob"],
        "engineering_manager": ["emma-em"],
        "vp_engineering": ["victor-vp"],
        "cto": ["chloe-cto"],
        "security_lead": ["sam-seclead"],
        "ceo": ["cedric-ceo"],
    }
    assert rows["ceo"]["p1_only"] is True and rows["cto"]["p1_only"] is False
    assert rows["backup_on_call"]["contact_method"] == "PagerDuty"


def test_escalation_contacts_for_an_incident_use_its_teams(api, org, ic, time_machine):
    from incidents.models import Service
    from tests.factories import declare

    time_machine.move_to(T0, tick=False)
    incident = declare(
        actor=ic, severity="P2", services=[Service.objects.get(slug="authentication")]
    )
    response = api(ic).get("/api/v1/escalation-contacts/", {"incident": incident.pk})
    rows = {r["role"]: [p["username"] for p in r["people"]] for r in response.json()}
    assert rows["backup_on_call"] == ["erin"]  # the security team's backup
