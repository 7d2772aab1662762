"""A Celery worker SIGKILLed in the middle of a sweep: the batch it was firing rolls back with
it, a new worker fires those deadlines, and every deadline ends fired exactly once."""

import pytest
from django.db import connection

from incidents.models import Deadline

from .conftest import (
    assert_each_fired_once,
    firing_report,
    open_p1_incidents_all_due,
    people,
    wait_for,
)

INCIDENTS = 200  # 6 deadlines each: 1,200 due, more than two sweeper batches of 500


def _count(status: str) -> int:
    return Deadline.objects.filter(status=status).count()


def _firing_in_progress(for_at_least: float = 0.0) -> bool:
    """Another session has held deadline rows FOR UPDATE for `for_at_least` seconds: a sweeper
    is inside the transaction of a batch (not just finding everything locked and leaving)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.relation = 'incidents_deadline'::regclass AND l.mode = 'RowShareLock'
               AND a.pid <> pg_backend_pid() AND a.datname = current_database()
               AND a.xact_start < clock_timestamp() - make_interval(secs => %s)
            """,
            [for_at_least],
        )
        return cur.fetchone()[0] > 0


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_worker_sigkilled_mid_sweep_loses_and_doubles_nothing(
    celery_worker_process, dedicated_broker, sweeps
):
    actor = people()["engineering_manager"]
    open_p1_incidents_all_due(INCIDENTS, actor=actor)
    total = _count("pending")
    assert total == INCIDENTS * 6

    broker = dedicated_broker()
    worker = celery_worker_process(broker)
    sweeps(broker, every=1.0)  # what beat does

    # 1. Kill the worker (its whole process group, SIGKILL) once a first batch has committed
    #    and the sweeper is inside the transaction of the next one.
    wait_for(
        lambda: _count("fired") > 0 and _firing_in_progress(for_at_least=0.3),
        timeout=60,
        interval=0.02,
        what=lambda: f"a sweep in progress after a first commit\n{worker.tail()}",
    )
    worker.kill()
    wait_for(lambda: not _firing_in_progress(), timeout=15, what="the killed transaction to end")
    fired_before = _count("fired")
    pending_before = _count("pending")
    assert 0 < fired_before < total, (fired_before, total)
    assert fired_before + pending_before == total, "nothing half-fired survives the kill"

    # 2. A new worker picks the rows up again: the deadlines are rows, not the lost message.
    worker = celery_worker_process(broker)
    wait_for(
        lambda: _count("pending") == 0,
        timeout=90,  # typically 5-15 s
        interval=0.2,
        what=lambda: f"every deadline to fire after the restart\n{worker.tail()}",
    )
    worker.stop()
    print(f"killed with {fired_before} of {total} fired and a batch in its transaction")

    report = firing_report()
    assert_each_fired_once(report, total)
    # the restarted worker fired what the killed one had in hand (and everything after it)
    assert report["fired"] - fired_before == pending_before
