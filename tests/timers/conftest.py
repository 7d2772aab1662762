"""Fixtures for the on-call, escalation and paging tests: schedules built from plain data, a
small organisation (on-call engineers, their managers, executives), a real local HTTP server
that answers each request the way a test tells it to, and a sweep that fires due deadlines the
way the timer worker does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dtime

import pytest

from incidents.hooks import DEADLINE_KINDS
from incidents.models import Rotation, RotationMember, Schedule, Team, User
from incidents.services.timers import deadlines_fire_due
from tests.factories import UserFactory

# A Wednesday noon in week 0 of the standard rotation below (anchored Monday 2026-01-05 09:00).
T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _core_deadline_kinds_only():
    """These tests hold the core's own timers (escalations, declaration notices) to the
    procedures, deadline by deadline; the kinds apps register through `incidents.hooks`
    (comms cadences, PIR reminders) plan more deadlines and are tested in those apps' suites."""
    registered = dict(DEADLINE_KINDS)
    DEADLINE_KINDS.clear()
    yield
    DEADLINE_KINDS.update(registered)


@pytest.fixture
def procedure_kinds(_core_deadline_kinds_only):
    """The core's own kinds for the first minutes, the channel and the contacts' response times
    (incidents/deadline_kinds), on top of the escalations; the apps' kinds stay out."""
    from incidents import deadline_kinds

    deadline_kinds.register()
    return deadline_kinds.KINDS


@pytest.fixture
def on_call_responder(org):
    """The platform's primary on call (alice at T0), who may command a P3/P4 (3.1 "On-call
    engineer"), in the responder group so that she may act too."""
    from django.contrib.auth.models import Group

    org.primary.groups.add(Group.objects.get(name="responder"))
    return User.objects.get(pk=org.primary.pk)


# --- schedules -----------------------------------------------------------------------------------
def make_schedule(
    team: Team,
    slug: str,
    rotations: list[dict],
    *,
    kind: str = "weekly",
    name: str | None = None,
) -> Schedule:
    """A schedule with its rotations. Each rotation is a dict: members (users, in turn order),
    anchor (date), handoff (time), and optional tz, window (start, end), position, name."""
    schedule = Schedule.objects.create(team=team, slug=slug, name=name or slug.title(), kind=kind)
    for index, spec in enumerate(rotations):
        start, end = spec.get("window", (None, None))
        rotation = Rotation.objects.create(
            schedule=schedule,
            name=spec.get("name", f"rotation {index}"),
            position=spec.get("position", index),
            time_zone=spec.get("tz", "UTC"),
            anchor_date=spec.get("anchor", date(2026, 1, 5)),
            handoff_time=spec.get("handoff", dtime(9, 0)),
            shift_start=start,
            shift_end=end,
        )
        for position, user in enumerate(spec["members"]):
            RotationMember.objects.create(rotation=rotation, user=user, position=position)
    return schedule


# --- an organisation -----------------------------------------------------------------------------
@dataclass
class Org:
    platform: Team
    security: Team
    schedule: Schedule
    primary: User
    backup: User
    third: User
    em: User
    vp: User
    cto: User
    ceo: User
    security_lead: User
    sec_primary: User
    sec_backup: User
    sec_schedule: Schedule


@pytest.fixture
def org(db) -> Org:
    """Platform has a weekly UTC rotation alice → bob → carol handing off Mondays 09:00 (at T0
    alice is primary, bob backup) and an Engineering Manager; Security has its own rotation
    (dave, erin) and a Security Lead; the executives exist once each."""
    platform = Team.objects.get(slug="platform")
    security = Team.objects.get(slug="security")
    em = UserFactory(username="emma-em", rank="engineering_manager", team=platform)
    alice = UserFactory(username="alice", team=platform, manager=em)
    bob = UserFactory(username="bob", team=platform, manager=em)
    carol = UserFactory(username="carol", team=platform, manager=em)
    lead = UserFactory(username="sam-seclead", rank="security_lead", team=security)
    dave = UserFactory(username="dave", team=security)
    erin = UserFactory(username="erin", team=security)
    schedule = make_schedule(platform, "platform-primary", [{"members": [alice, bob, carol]}])
    sec_schedule = make_schedule(security, "security-primary", [{"members": [dave, erin]}])
    return Org(
        platform=platform,
        security=security,
        schedule=schedule,
        primary=alice,
        backup=bob,
        third=carol,
        em=em,
        vp=UserFactory(username="victor-vp", rank="vp_engineering"),
        cto=UserFactory(username="chloe-cto", rank="cto"),
        ceo=UserFactory(username="cedric-ceo", rank="ceo"),
        security_lead=lead,
        sec_primary=dave,
        sec_backup=erin,
        sec_schedule=sec_schedule,
    )


@pytest.fixture
def ic(db):
    """The declaring Incident Commander: an Engineering Manager outside every team."""
    return UserFactory(username="ian-ic", rank="engineering_manager", groups=["incident_commander"])


# --- time and the sweeper ------------------------------------------------------------------------
@pytest.fixture
def sweep(time_machine):
    """sweep(at) -> moves the clock to `at` (frozen) and fires what is due, as the sweeper does."""

    def run(at: datetime) -> int:
        time_machine.move_to(at, tick=False)
        return deadlines_fire_due(now=at)

    return run


@pytest.fixture
def eager_pages(eager_tasks):
    """Pages handed over after commit are delivered at once (tests/conftest.py)."""


@pytest.fixture
def no_allowlist(settings):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = []


@pytest.fixture
def gateway(db):
    """The API gateway service (seeded catalog), owned by the platform team."""
    from incidents.models import Service

    return [Service.objects.get(slug="api-gateway")]


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine
