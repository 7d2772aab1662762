"""Two outbox sweeps at once, on the real PostgreSQL (beat sends one every 2 s, and a slow one
can still run when the next starts): each lost row is handed to the workers once, not by both
(issue 16 saw 500 re-handed twice)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from incidents.outbox import outbox_requeue_stale
from pir import digests
from tests.test_outbox import digest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_sweeps_at_once_hand_each_lost_row_over_once(no_hand_offs):
    lost = timezone.now() - timedelta(minutes=5)
    ids = sorted(digest(next_attempt_at=lost - timedelta(seconds=n)).pk for n in range(6))
    table = digests.ActionDigestDelivery._meta.db_table
    picked, resume = threading.Event(), threading.Event()
    first: list[int] = []

    def pause_after_picking(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith(f'UPDATE "{table}"') and "SKIP LOCKED" in sql:
            picked.set()
            resume.wait(5)
        return result

    def sweep_a():
        # In a transaction, so its three rows stay locked while it is paused (a sweep's pick
        # alone is one statement, its locks held for no longer than that statement runs).
        try:
            with connection.execute_wrapper(pause_after_picking), transaction.atomic():
                first.extend(outbox_requeue_stale(digests.KIND, limit=3))
        finally:
            connection.close()

    thread = threading.Thread(target=sweep_a)
    thread.start()
    assert picked.wait(10), "the first sweep never picked its rows"
    second = outbox_requeue_stale(digests.KIND)  # while the first holds its three
    resume.set()
    thread.join(10)
    assert len(first) == 3
    assert sorted(first + second) == ids, "every lost row handed over by one of the sweeps"
    handed = [row_id for _kind, row_id in no_hand_offs]
    assert sorted(handed) == ids, f"handed twice: {sorted(handed)}"


def test_the_sweep_locks_only_the_outbox_rows_not_what_it_joins():
    """The outgoing webhooks' sweep joins their subscriptions (`claim_where`): locking those
    too would hold up every new delivery and subscription edit while a sweep runs."""
    from django.test.utils import CaptureQueriesContext

    from integrations.models import WebhookDelivery

    with CaptureQueriesContext(connection) as queries:
        outbox_requeue_stale("outgoing-webhook")
    table = WebhookDelivery._meta.db_table
    (pick,) = [q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"]]
    assert f'FOR UPDATE OF "{table}" SKIP LOCKED' in pick, pick
    assert pick.startswith(f'UPDATE "{table}"') and pick.endswith(' RETURNING "id"'), pick


def test_a_pick_is_one_statement_and_holds_no_transaction_open():
    """Every sweep statement runs on its own: PostgreSQL sessions terminated whenever seen busy
    (tests/faults) cut a transaction held across round trips again and again, and on a busy
    machine no sweep got through (CI, 2026-12-07)."""
    from django.test.utils import CaptureQueriesContext

    digest(next_attempt_at=timezone.now() - timedelta(minutes=5))
    with CaptureQueriesContext(connection) as queries:
        assert len(outbox_requeue_stale(digests.KIND)) == 1
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if s.startswith(("BEGIN", "SAVEPOINT", "COMMIT"))], sql
    assert not [s for s in sql if s.startswith("SELECT") and "FOR UPDATE" in s], sql


def test_locking_nothing_asks_nothing():
    from django.test.utils import CaptureQueriesContext

    from incidents.db import locked_update

    with CaptureQueriesContext(connection) as queries:
        assert locked_update(digests.ActionDigestDelivery.objects.filter(pk__in=[]), {}) == []
    assert queries.captured_queries == []
