"""incidents.db: work carries on after its PostgreSQL backend is terminated under it, a claim
whose UPDATE committed just before the connection dropped is still this worker's, and a send's
outcome is recorded once however often the record is tried."""

from datetime import timedelta

import psycopg
import pytest
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F, QuerySet
from django.utils import timezone

from incidents import db
from incidents.db import claim_row, on_fresh_connection, on_fresh_connection_until
from incidents.models import Page
from incidents.notify import Outcome
from incidents.outbox import _record, outbox_deliver, outbox_kind
from incidents.services import paging
from incidents.services.paging import pages_build
from tests.factories import UserFactory, declare

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def terminate_my_backend() -> None:
    """What an operator's pg_terminate_backend() (or a failover) does to this connection."""
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def pid() -> int:
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def a_page() -> Page:
    user = UserFactory(email="pager@example.invalid")
    incident = declare()
    (page_id,), _ = pages_build(
        incident,
        deadline=None,
        rule_key="test",
        reason="test",
        people=[("manual", user)],
        at=timezone.now(),
    )
    return Page.objects.get(pk=page_id)


def claim(page: Page, lease) -> bool:
    return claim_row(
        Page,
        page.pk,
        where={"status": "pending"},
        changes={"status": "sending", "attempts": F("attempts") + 1, "lease_until": lease},
    )


def test_work_runs_again_on_a_new_connection():
    first = pid()
    terminate_my_backend()
    with pytest.raises((OperationalError, InterfaceError)):
        Page.objects.count()  # on its own: the task fails
    assert on_fresh_connection(Page.objects.count) == 0  # the dead connection is replaced

    second = pid()
    terminate_my_backend()
    assert on_fresh_connection(Page.objects.count) == 0
    assert len({first, second, pid()}) == 3


def test_a_send_s_outcome_is_tried_until_its_lease_ends(monkeypatch):
    """The outcome of a send is tried again for as long as its lease lasts, not just the usual
    few times: given up, the row would be sent a second time once the lease ran out."""
    monkeypatch.setattr(db, "RETRY_DELAYS", (0.01, 0.01))
    drops = []

    def record_under_drops():
        if len(drops) < 6:  # three times the usual tries
            drops.append(pid())
            terminate_my_backend()
        return Page.objects.count()

    with pytest.raises((OperationalError, InterfaceError)):
        on_fresh_connection(record_under_drops)
    drops.clear()
    lease = timezone.now() + timedelta(seconds=30)
    assert on_fresh_connection_until(lease, record_under_drops) == 0
    assert len(set(drops)) == 6

    drops.clear()
    with pytest.raises((OperationalError, InterfaceError)):
        on_fresh_connection_until(timezone.now(), record_under_drops)
    connection.close()  # the last try left it dead: the test's teardown opens a new one


def test_an_error_on_a_working_connection_is_not_retried():
    pid()  # connected and working
    calls = []

    def failing():
        calls.append(1)
        raise OperationalError("could not obtain lock on row")

    with pytest.raises(OperationalError):
        on_fresh_connection(failing)
    assert calls == [1]


def test_a_claim_that_committed_before_the_connection_dropped_is_ours(monkeypatch):
    page = a_page()
    real_update = QuerySet.update

    def update_then_drop(self, **changes):
        monkeypatch.setattr(QuerySet, "update", real_update)
        real_update(self, **changes)  # autocommit: it is in
        terminate_my_backend()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(QuerySet, "update", update_then_drop)
    lease = timezone.now() + timedelta(seconds=60)
    assert claim(page, lease)
    page.refresh_from_db()
    assert (page.status, page.attempts, page.lease_until) == ("sending", 1, lease)


def test_a_claim_lost_with_the_connection_before_it_committed_is_made_again(monkeypatch):
    page = a_page()
    real_update = QuerySet.update

    def drop_first(self, **changes):
        monkeypatch.setattr(QuerySet, "update", real_update)
        terminate_my_backend()
        return real_update(self, **changes)

    monkeypatch.setattr(QuerySet, "update", drop_first)
    lease = timezone.now() + timedelta(seconds=60)
    assert claim(page, lease)
    page.refresh_from_db()
    assert (page.status, page.attempts) == ("sending", 1)


def test_a_send_is_recorded_once_and_only_under_its_own_lease():
    page = a_page()
    lease = timezone.now() + timedelta(seconds=60)
    Page.objects.filter(pk=page.pk).update(status="sending", attempts=1, lease_until=lease)
    page.refresh_from_db()
    ok = Outcome(ok=True, code=200)
    spec = outbox_kind(paging.KIND)

    # Another worker took it over after this send's lease ran out: left alone.
    assert _record(spec, page, ok, lease - timedelta(seconds=1)) == "sending"
    assert Page.objects.get(pk=page.pk).status == "sending"

    assert _record(spec, page, ok, lease) == "sent"
    sent_at = Page.objects.get(pk=page.pk).sent_at
    # The same record again (its first commit went through before the connection dropped).
    assert _record(spec, page, ok, lease) == "sent"
    assert Page.objects.get(pk=page.pk).sent_at == sent_at


def test_a_page_is_recorded_sent_when_the_connection_drops_after_the_send(monkeypatch, mailoutbox):
    page = a_page()
    real_deliver = paging.deliver

    def deliver_then_drop(row):
        outcome = real_deliver(row)
        terminate_my_backend()
        return outcome

    monkeypatch.setattr(paging, "deliver", deliver_then_drop)
    assert outbox_deliver(paging.KIND, page.pk) == "sent"
    page.refresh_from_db()
    assert (page.status, page.attempts) == ("sent", 1)
    assert len(mailoutbox) == 1
