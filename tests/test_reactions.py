"""What follows a timeline event is listed in one table (incidents/reactions.py,
docs/architecture.md "Reactions"), run inside the event's transaction, and nothing else
listens to timeline events."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save

from comms import slack
from incidents import services
from incidents.models import TimelineEvent
from incidents.reactions import EVERY_EVENT, REACTIONS, reactions_for, register_reaction
from incidents.states import TimelineKind
from integrations.services.outgoing import KIND_EVENTS
from tests.factories import declare

APPS = ["incidents", "comms", "pir", "integrations", "dashboard", "tensafe_ir"]

# name -> the event kinds it follows: the table docs/architecture.md shows.
EXPECTED = {
    "incidents: forget the incident list's remembered version": {EVERY_EVENT},
    "incidents: time the escalation contact's response": {TimelineKind.ESCALATION_REQUESTED},
    "incidents: PagerDuty told of the acknowledgement and the resolution": {
        TimelineKind.ACKNOWLEDGED,
        TimelineKind.STATUS_CHANGED,
    },
    "comms: a delivery row per confirmed status page subscriber": {TimelineKind.STATUS_PAGE_POSTED},
    "comms: Slack channel created, topic, links pinned, people invited, announced": {
        TimelineKind.DECLARED
    },
    "comms: Slack channel told (roles invited, changes posted, closed: archived)": set(
        slack.FOLLOWED
    ),
    "pir: a review for a resolved incident": {TimelineKind.STATUS_CHANGED},
    "integrations: a delivery row per outgoing webhook subscribed to the event": set(KIND_EVENTS),
}


def test_the_registered_reactions_are_the_listed_ones():
    table = {name: set(r.kinds) for name, r in REACTIONS.items()}
    assert table == {name: {str(k) for k in kinds} for name, kinds in EXPECTED.items()}


def test_docs_list_every_reaction():
    text = (Path(settings.BASE_DIR) / "docs" / "architecture.md").read_text()
    section = text.split("## Reactions", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))
    assert rows == set(REACTIONS)


def _listens_to_timeline_events(source: str) -> list[str]:
    """Ways `source` hangs a side effect on timeline events outside the table: the old
    signal, a Django Signal of its own, or model signals on TimelineEvent."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name == "timeline_recorded":
                found.append(f"line {node.lineno}: timeline_recorded")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "Signal":
                found.append(f"line {node.lineno}: a Signal of its own")
            sender = next((k.value for k in node.keywords if k.arg == "sender"), None)
            if name == "connect" and getattr(sender, "id", "") == "TimelineEvent":
                found.append(f"line {node.lineno}: a receiver on TimelineEvent")
    return found


def test_nothing_else_listens_to_timeline_events():
    offenders = {
        str(path.relative_to(settings.BASE_DIR)): found
        for app in APPS
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py"))
        if (found := _listens_to_timeline_events(path.read_text()))
    }
    assert offenders == {}
    assert not pre_save.has_listeners(TimelineEvent)
    assert not post_save.has_listeners(TimelineEvent)


@pytest.mark.parametrize(
    "source",
    [
        "from incidents.hooks import timeline_recorded\ntimeline_recorded.connect(f)",
        "from django.dispatch import Signal\nincident_resolved = Signal()",
        "post_save.connect(on_event, sender=TimelineEvent)",
    ],
)
def test_the_check_sees_a_listener_outside_the_table(source):
    assert _listens_to_timeline_events(source)


@pytest.fixture
def recorded():
    """A reaction to notes, registered for one test."""
    calls = []

    def remember(incident, event):
        calls.append((incident.pk, event.kind, connection.in_atomic_block))

    register_reaction(TimelineKind.NOTE, remember, name="test: remember notes")
    yield calls
    del REACTIONS["test: remember notes"]


@pytest.mark.django_db
def test_a_reaction_runs_for_its_kind_inside_the_events_transaction(ic_user, recorded):
    incident = declare(actor=ic_user)
    assert recorded == []  # the declaration is not a note
    services.incident_add_note(actor=ic_user, incident_id=incident.pk, text="Rolled back")
    assert recorded == [(incident.pk, TimelineKind.NOTE, True)]


@pytest.mark.django_db
def test_a_reaction_rolls_back_with_its_event(ic_user):
    incident = declare(actor=ic_user)

    def refuse(incident, event):
        raise RuntimeError("reaction failed")

    register_reaction(TimelineKind.NOTE, refuse, name="test: refuse notes")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.incident_add_note(actor=ic_user, incident_id=incident.pk, text="Lost")
    finally:
        del REACTIONS["test: refuse notes"]
    assert not TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.NOTE).exists()


def test_reactions_for_a_kind_in_registration_order():
    names = [r.name for r in reactions_for(TimelineKind.STATUS_CHANGED)]
    assert names.index("pir: a review for a resolved incident") < names.index(
        "integrations: a delivery row per outgoing webhook subscribed to the event"
    )
    assert [r.name for r in reactions_for(TimelineKind.ACKNOWLEDGED)] == [
        "incidents: forget the incident list's remembered version",
        "incidents: PagerDuty told of the acknowledgement and the resolution",
        "comms: Slack channel told (roles invited, changes posted, closed: archived)",
    ]


def test_a_reaction_must_follow_some_kind():
    with pytest.raises(ValueError, match="follows no event kind"):
        register_reaction([], lambda incident, event: None, name="test: nothing")
