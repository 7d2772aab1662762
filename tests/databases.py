"""The test database: its URL for subprocesses (Celery workers, web servers), and on
PostgreSQL a cheaper way to empty it after a test that commits (tests/conftest.py)."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.db import connections


def uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def database_url() -> str:
    """The default database (by now the test database, e.g. test_test_gw0) as a DATABASE_URL
    for a subprocess (Celery workers, web servers)."""
    db = connections["default"].settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{db['NAME']}"


def flush_by_delete(original):
    """After each test that commits, pytest-django empties every table with one TRUNCATE of
    all ~60: on PostgreSQL that makes new files for every table and index, about 0.3 s of the
    server's CPU per test, where DELETE of the few rows a test wrote takes 0.007 s. Foreign
    keys and the append-only triggers (incidents 0002) are not fired while the tables are
    emptied (`session_replication_role`, which needs a superuser, as CI's is; otherwise
    TRUNCATE as before)."""

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if tables and not reset_sequences and _is_superuser(self.connection):
            return ["SET LOCAL session_replication_role = replica"] + [
                f"DELETE FROM {self.quote_name(table)}" for table in tables
            ]
        return original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )

    return sql_flush


def _is_superuser(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SHOW is_superuser")
        return cursor.fetchone()[0] == "on"
