"""The timeline is append-only (model, queryset and, on PostgreSQL, a trigger); notes; and the
checklist ticks that land on it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction

from incidents import services
from incidents.errors import RuleViolation
from incidents.models import ChecklistItem, TimelineEvent
from incidents.models.timeline import AppendOnlyError
from incidents.states import Checklist, TimelineKind
from tests.factories import declare

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def event(ic_user):
    incident = declare(actor=ic_user)
    return services.incident_add_note(
        actor=ic_user, incident_id=incident.pk, text="Rolled back deploy 4812"
    )


def stored(event):
    return TimelineEvent.objects.filter(pk=event.pk).values_list(
        "text", "kind", "occurred_at", "data"
    )[0]


# --- append-only through the ORM ------------------------------------------------------------
def test_saving_an_existing_event_is_refused(event):
    before = stored(event)
    event.text = "Rewritten history"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.save(update_fields=["text"])
    assert stored(event) == before


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert TimelineEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "write",
    [
        lambda e: TimelineEvent.objects.filter(pk=e.pk).update(text="x"),
        lambda e: TimelineEvent.objects.all().update(text="x"),
        lambda e: TimelineEvent.objects.update(text="x"),
        lambda e: e.incident.timeline.update(text="x"),
        lambda e: e.incident.timeline.all().update(text="x"),
        lambda e: TimelineEvent.objects.bulk_update([e], ["text"]),
        lambda e: TimelineEvent.objects.filter(pk=e.pk).delete(),
        lambda e: TimelineEvent.objects.all().delete(),
        lambda e: e.incident.timeline.all().delete(),
    ],
    ids=[
        "filter-update",
        "all-update",
        "manager-update",
        "related-update",
        "related-all-update",
        "bulk-update",
        "filter-delete",
        "all-delete",
        "related-delete",
    ],
)
def test_queryset_writes_are_refused(write, event):
    events_before = list(TimelineEvent.objects.values_list("id", "text"))
    event.text = "x"
    # bulk_update runs in a transaction of its own; the savepoint keeps the test's usable.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        write(event)
    assert list(TimelineEvent.objects.values_list("id", "text")) == events_before


def test_new_events_can_still_be_added(event):
    incident = event.incident
    count = incident.timeline.count()
    services.incident_add_note(actor=None, incident_id=incident.pk, text="Second note")
    assert incident.timeline.count() == count + 1


# --- append-only in PostgreSQL itself (migration 0002's trigger) -----------------------------
@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE incidents_timelineevent SET text = 'edited' WHERE id = %s",
        "DELETE FROM incidents_timelineevent WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_raw_sql_cannot_change_the_timeline_on_postgres(sql, event):
    before = stored(event)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])
    assert stored(event) == before


@pytest.mark.postgres
def test_raw_sql_can_still_insert_on_postgres(event):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO incidents_timelineevent "
            "(incident_id, kind, occurred_at, recorded_at, text, data) "
            "VALUES (%s, 'note', now(), now(), 'raw insert', '{}')",
            [event.incident_id],
        )
    assert event.incident.timeline.filter(text="raw insert").exists()


# --- notes ------------------------------------------------------------------------------------
def test_note_is_recorded_now_by_default(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user)
    note = services.incident_add_note(
        actor=ic_user, incident_id=incident.pk, text="  Paged the database team  "
    )
    note.refresh_from_db()
    assert (note.kind, note.text) == (TimelineKind.NOTE, "Paged the database team")
    assert (note.occurred_at, note.recorded_at, note.actor) == (T0, T0, ic_user)


def test_note_may_be_backdated(ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user, detected_at=T0 - timedelta(hours=1))
    happened = T0 - timedelta(minutes=50)
    note = services.incident_add_note(
        actor=ic_user, incident_id=incident.pk, text="Deploy 4812 went out", occurred_at=happened
    )
    note.refresh_from_db()
    assert note.occurred_at == happened
    assert note.recorded_at == T0
    # The timeline reads in the order things happened, not the order they were written.
    assert list(incident.timeline.values_list("kind", flat=True)) == [
        TimelineKind.NOTE,
        TimelineKind.DECLARED,
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": "From the future", "occurred_at": T0 + timedelta(minutes=1)}, "occurred_at"),
        ({"text": "From the future", "occurred_at": T0 + timedelta(days=1)}, "occurred_at"),
        ({"text": ""}, "text"),
        ({"text": "   \n\t "}, "text"),
        ({"text": None}, "text"),
    ],
)
def test_bad_notes_are_refused(kwargs, field, ic_user, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user)
    before = incident.timeline.count()
    with pytest.raises(RuleViolation) as violation:
        services.incident_add_note(actor=ic_user, incident_id=incident.pk, **kwargs)
    assert violation.value.extra["field"] == field
    assert incident.timeline.count() == before


def test_viewers_cannot_add_notes(ic_user, viewer):
    incident = declare(actor=ic_user)
    before = incident.timeline.count()
    with pytest.raises(PermissionDenied):
        services.incident_add_note(actor=viewer, incident_id=incident.pk, text="hello")
    assert incident.timeline.count() == before


# --- checklist ticks ----------------------------------------------------------------------------
def test_tick_and_untick_are_timestamped_and_on_the_timeline(ic_user, responder, time_machine):
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=ic_user)
    item = ChecklistItem.objects.get(
        incident=incident, checklist=Checklist.TRIAGE, key="issue_verified"
    )
    assert (item.done, item.done_at, item.done_by) == (False, None, None)

    time_machine.move_to(T0 + timedelta(minutes=2), tick=False)
    services.incident_checklist_set(
        actor=responder, incident_id=incident.pk, item_id=item.pk, done=True
    )
    item.refresh_from_db()
    assert (item.done, item.done_at, item.done_by) == (True, T0 + timedelta(minutes=2), responder)
    ticked = incident.timeline.get(kind=TimelineKind.CHECKLIST_TICKED)
    assert ticked.actor == responder
    assert ticked.occurred_at == T0 + timedelta(minutes=2)
    assert ticked.data == {
        "item": item.pk,
        "checklist": "triage",
        "key": "issue_verified",
        "done": True,
    }
    assert "Issue verified (not false positive)" in ticked.text

    time_machine.move_to(T0 + timedelta(minutes=3), tick=False)
    services.incident_checklist_set(
        actor=ic_user, incident_id=incident.pk, item_id=item.pk, done=False
    )
    item.refresh_from_db()
    assert (item.done, item.done_at, item.done_by) == (False, None, None)
    unticked = incident.timeline.get(kind=TimelineKind.CHECKLIST_UNTICKED)
    assert unticked.actor == ic_user
    assert unticked.occurred_at == T0 + timedelta(minutes=3)
    assert unticked.data["done"] is False


def test_setting_an_item_to_what_it_already_is_writes_nothing(ic_user):
    incident = declare(actor=ic_user)
    item = ChecklistItem.objects.get(incident=incident, key="severity_assessed")
    assert item.done  # ticked at declaration
    done_at = item.done_at
    before = incident.timeline.count()
    services.incident_checklist_set(
        actor=ic_user, incident_id=incident.pk, item_id=item.pk, done=True
    )
    untouched = ChecklistItem.objects.get(incident=incident, key="issue_verified")
    services.incident_checklist_set(
        actor=ic_user, incident_id=incident.pk, item_id=untouched.pk, done=False
    )
    item.refresh_from_db()
    assert item.done_at == done_at
    assert incident.timeline.count() == before


def test_an_item_of_another_incident_is_not_found(ic_user):
    from django.http import Http404

    first = declare(actor=ic_user)
    second = declare(actor=ic_user, title="Another one")
    foreign = ChecklistItem.objects.filter(incident=second).first()
    with pytest.raises(Http404):
        services.incident_checklist_set(
            actor=ic_user, incident_id=first.pk, item_id=foreign.pk, done=True
        )
    foreign.refresh_from_db()
    assert not foreign.done


def test_viewers_cannot_tick(ic_user, viewer):
    incident = declare(actor=ic_user)
    item = ChecklistItem.objects.get(incident=incident, key="issue_verified")
    with pytest.raises(PermissionDenied):
        services.incident_checklist_set(
            actor=viewer, incident_id=incident.pk, item_id=item.pk, done=True
        )
    item.refresh_from_db()
    assert not item.done
