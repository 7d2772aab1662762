"""Database helpers: workers outliving their connection, claims and locked updates that hold
no transaction open, and statements prepared once per connection (`planned_once_cursor`).

A worker's connection can drop under it at any statement: PostgreSQL restarted or failed over,
an operator (or `idle_session_timeout`) terminated the backend, a network blip. Django then
raises OperationalError or InterfaceError and leaves a dead connection behind. Between tasks,
a worker checks the connection it keeps before using it (tensafe_ir/celery.py); these helpers
let a task carry on within itself instead of failing and leaving its work to the sweepers (a
page stuck `sending` until its lease runs out is sent a second time: exactly what the lease
exists to avoid in the common case).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models.expressions import RawSQL
from django.db.models.sql import UpdateQuery
from django.utils import timezone

log = logging.getLogger(__name__)
T = TypeVar("T")

# Waits before each new try: about 4 s in all, longer than a backend's restart after a crash.
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)


def connection_dropped(exc: Exception, used) -> bool:
    """After a database error `exc` in work that began on the connection `used` (None: it could
    not connect): was it the connection that went (rather than a statement that failed on a
    working connection, which must not be retried blindly)? Either PostgreSQL said so (class
    08, connection exception; 57P01-57P03, the backend was terminated or shut down), or the
    connection is closed or unusable, or Django already replaced it (leaving a transaction on
    a dead connection, it opens a new one to restore autocommit)."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    if sqlstate.startswith(("08", "57P0")):
        return True
    if connection.connection is None or (used is not None and connection.connection is not used):
        return True
    return not connection.is_usable()


def on_fresh_connection(work: Callable[..., T], *args, **kwargs) -> T:
    """Run `work(*args, **kwargs)`; when the connection drops under it, close it and run it
    again on a new one (up to len(RETRY_DELAYS) more times). Only for work that is safe to
    repeat: one transaction (all or nothing, so a retry redoes it whole) or statements that are
    idempotent, and only outside any transaction (inside one, the caller's transaction is lost
    with the connection and only the caller can redo it). If the connection dropped while a
    COMMIT was on the wire, the commit may have happened: `work` must see that and not do it
    twice (see `claim_row`, and the sender's record step that checks its lease)."""
    return _retried(RETRY_DELAYS, work, *args, **kwargs)


def on_fresh_connection_until(deadline: datetime, work: Callable[..., T], *args, **kwargs) -> T:
    """`on_fresh_connection`, trying again every RETRY_DELAYS[-1] s after those tries for as
    long as `deadline` has not passed. For a send's outcome, whose lease ends at `deadline`:
    given up before then, the row would stay `sending` until the lease ran out and be handed,
    and sent, again (seen with PostgreSQL terminating busy sessions fifty times a second)."""

    def delays():
        yield from RETRY_DELAYS
        while timezone.now() < deadline:
            yield RETRY_DELAYS[-1]

    return _retried(delays(), work, *args, **kwargs)


def _retried(delays: Iterable[float], work: Callable[..., T], *args, **kwargs) -> T:
    for delay in delays:
        used = None
        try:
            used = opened_connection()
            return work(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            if not connection_replaced(exc, used, work, delay):
                raise
            time.sleep(delay)
    return work(*args, **kwargs)


def opened_connection():
    """The connection work is about to run on, opened now if it is not: only then can a new one
    after an error be told from the one the work began on."""
    connection.ensure_connection()
    return connection.connection


def connection_replaced(exc: Exception, used, work, delay: float) -> bool:
    """After `exc` in `work` (begun on the connection `used`), outside any transaction: if the
    connection dropped, log it, close it (the next query opens a new one) and return True (try
    again after `delay` s); else False (the caller re-raises)."""
    if connection.in_atomic_block or not connection_dropped(exc, used):
        return False
    log.warning(
        "database connection lost in %s (%s); retrying on a new one in %.2f s",
        getattr(work, "__qualname__", work),
        (str(exc).strip() or type(exc).__name__).splitlines()[0],
        delay,
    )
    connection.close()
    return True


def claim_row(model, pk, *, where: dict, changes: dict, marker: str = "lease_until") -> bool:
    """Claim one row with a conditional UPDATE (`where`: the state it must be in) that exactly
    one worker wins; returns whether this one did.

    1. UPDATE … WHERE pk AND `where` SET `changes`; one row changed means ours.
    2. If the connection dropped, it is unknown whether that UPDATE committed. Before trying
       it again, look for the row carrying `changes[marker]` (a lease end to the microsecond,
       unique to this claim): there, the first try did commit and the claim is ours; else
       nothing was written and the UPDATE runs again.
    """
    tried = False

    def attempt() -> bool:
        nonlocal tried
        if tried and model.objects.filter(pk=pk, **{marker: changes[marker]}).exists():
            return True
        tried = True
        return model.objects.filter(pk=pk, **where).update(**changes) == 1

    return on_fresh_connection(attempt)


def claim_rows(model, pks, *, where: dict, changes: dict, marker: str = "lease_until") -> list:
    """`claim_row` for many rows at once; returns the ids this claim won.

    1. In one statement (`locked_update`): the rows of `pks` in `where`'s state, locked,
       skipping rows another claim holds (`FOR UPDATE SKIP LOCKED`), updated with `changes`,
       their ids returned. Two claims never win the same row, even with the same marker.
    2. If the connection dropped, it is unknown whether that statement committed. Before
       trying again, look for the rows carrying `changes[marker]` (as `claim_row` does): there,
       the first try did commit and they are ours; else nothing was written and it runs again.
    """
    tried = False

    def attempt() -> list:
        nonlocal tried
        if tried:
            mine = list(
                model.objects.filter(pk__in=pks, **{marker: changes[marker]}).values_list(
                    "pk", flat=True
                )
            )
            if mine:
                return mine
        tried = True
        return locked_update(model.objects.filter(pk__in=pks, **where), changes, skip_locked=True)

    return on_fresh_connection(attempt)


def locked_update(queryset, changes: dict, *, skip_locked: bool = False, limit=None) -> list:
    """UPDATE the rows of `queryset` (the first `limit` of its order) with `changes`, locking
    them first and, with `skip_locked`, passing over rows another transaction holds; return
    their ids, ascending. One statement: one round trip, atomic by itself outside a transaction.

        UPDATE t SET … WHERE id IN (SELECT id FROM t WHERE … ORDER BY … LIMIT n
                                    FOR UPDATE OF t SKIP LOCKED) RETURNING id

    Only the queryset's own table is locked, not what its filters join. Django's UPDATE returns
    no ids (and it compiles FOR UPDATE only inside a transaction): this is the UPDATE …
    RETURNING it lacks. A claim written as a transaction of a locking SELECT and an UPDATE
    held its locks across two round trips, long enough, on a busy machine, for PostgreSQL
    sessions terminated whenever seen busy (tests/faults) never to get one through."""
    model, db = queryset.model, queryset.db
    ops, features = connections[db].ops, connections[db].features
    pks = queryset.values("pk")
    if limit is not None:
        pks = pks[:limit]
    try:
        sql, params = pks.query.get_compiler(db).as_sql()
    except EmptyResultSet:  # a filter that matches nothing, such as pk__in=[]
        return []
    if features.has_select_for_update:
        table = ops.quote_name(model._meta.db_table)
        sql = f"{sql} {ops.for_update_sql(skip_locked=skip_locked, of=(table,))}"
    picked = RawSQL(sql, params)  # noqa: S611  # nosec B611  # compiled by Django, values as parameters
    update = model._base_manager.using(db).filter(pk__in=picked).query
    update = update.chain(UpdateQuery)
    update.add_update_values(changes)
    sql, params = update.get_compiler(db).as_sql()
    with connections[db].cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {ops.quote_name(model._meta.pk.column)}", params)
        return sorted(pk for (pk,) in cursor.fetchall())


class _PreparedExecution:
    """A Django cursor wrapper whose statements PostgreSQL prepares (psycopg's `prepare=True`).
    Django's CursorWrapper sends every execute through `_execute` (after the execute wrappers
    and, when queries are logged, the timing): the same steps, one argument more."""

    def _execute(self, sql, params, *ignored_wrapper_args):
        self.db.validate_no_broken_transaction()
        with self.db.wrap_database_errors:
            return self.cursor.execute(sql, params, prepare=True)


class _PreparedCursor(_PreparedExecution, CursorWrapper):
    pass


class _PreparedDebugCursor(_PreparedExecution, CursorDebugWrapper):
    pass


@contextmanager
def planned_once_cursor(using: str = DEFAULT_DB_ALIAS):
    """A cursor for hand-written statements that run on nearly every request: on PostgreSQL
    each is prepared on its connection the first time it runs (planned once, executed with
    new parameters afterwards); on other databases a plain cursor.

    Django turns psycopg's automatic preparing off (so that connection poolers in transaction
    mode work) and binds parameters on the client, so a statement is planned on every run. The
    incident detail's version query, whose sub-selects take PostgreSQL 0.45-0.54 ms to plan
    and 0.13 ms to run (EXPLAIN ANALYZE, 10,000 incidents), the token lookup and the list's
    rows query go through here. Behind PgBouncer in transaction mode, set its
    `max_prepared_statements` (1.21 or later: it tracks protocol-level prepared statements
    per server connection). Executed statements are logged and counted as any other (execute
    wrappers, CaptureQueriesContext)."""
    db = connections[using]
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    # As Django's own cursor(): re-check a kept connection once per request, open one if none.
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = ServerBindingCursor(db.connection)
    if db.connection.prepare_threshold is None:
        # Django's None refuses even `prepare=True`. Only cursors binding on the server, these
        # alone, ever prepare, and they ask for it: a threshold never reached by counting.
        db.connection.prepare_threshold = sys.maxsize
    wrapper = _PreparedDebugCursor if db.queries_logged else _PreparedCursor
    with wrapper(raw, db) as cursor:
        yield cursor


def lease_lost(model, pk, lease) -> str | None:
    """In the transaction that records a send's outcome: lock the row and return None while it
    is still `sending` under this send's `lease`; else its status, which the caller leaves as
    it is (the lease ran out and another worker has the row, or an earlier try of the same
    record committed before the connection dropped)."""
    status, current = (
        model.objects.select_for_update().filter(pk=pk).values_list("status", "lease_until").get()
    )
    return None if (status, current) == ("sending", lease) else status
