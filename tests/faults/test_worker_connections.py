"""A worker keeps its PostgreSQL session from one task to the next, as a web process does from
one request to the next, and replaces it when PostgreSQL has terminated it in between.

Celery's Django fixup closes every connection around every task; each task then paid for a new
session (a fork and an authentication on the server: about 4 ms of a page's 8 ms of CPU,
docs/benchmarks.md "Timers").
"""

import re

import pytest
from django.db import connection

from .conftest import WORKER_APPLICATION_NAME, SweepSender, wait_for

# Beat's task that applies stored alert deliveries: with none stored, one quick query.
ENTRY = "apply-inbound"
SUCCEEDED = re.compile(r"Task integrations\.tasks\.apply_inbound_task\[[^\]]+\] succeeded")


def _sessions(*, started_after=None) -> list[int]:
    """The pids of the worker's sessions in the test database (started after a time, if given)."""
    sql = """
        SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = %s
    """
    params = [WORKER_APPLICATION_NAME]
    if started_after is not None:
        sql += " AND backend_start > %s"
        params.append(started_after)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pid for (pid,) in cursor.fetchall()]


def _now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_session_between_tasks_and_replaces_a_terminated_one(
    celery_worker_process, dedicated_broker
):
    broker = dedicated_broker()
    worker = celery_worker_process(broker, queues="celery", concurrency=1)
    sender = SweepSender(broker, ENTRY)

    def run(tasks: int) -> None:
        done = len(SUCCEEDED.findall(worker.log())) + tasks
        for _ in range(tasks):
            assert sender.send()
        wait_for(
            lambda: len(SUCCEEDED.findall(worker.log())) >= done,
            30,
            what=lambda: f"{tasks} tasks to succeed\n{worker.tail()}",
        )

    try:
        run(1)
        [kept] = _sessions()
        before = _now()

        # 1. Thirty tasks later, the session that served the first is still the worker's only
        #    one (closed around every task, there would be none left open at all).
        run(30)
        assert _sessions() == [kept]
        assert _sessions(started_after=before) == []

        # 2. PostgreSQL terminates it while the worker is idle: the next tasks check the kept
        #    session before use, find it gone and open a new one; none of them fails.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [kept])
        terminated_at = _now()
        run(5)
        assert len(_sessions(started_after=terminated_at)) == 1
        assert "OperationalError" not in worker.log(), worker.tail()
        assert " raised unexpected" not in worker.log(), worker.tail()
    finally:
        sender.close()
