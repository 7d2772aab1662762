"""pytest-django's live server on the in-memory SQLite test database (make test with nothing
configured). pytest-django hands the test's one connection to the server; with a thread per
request two requests (a page and its timeline's poll) used it at once: "database table is
locked" and a 500. So the server answers one request at a time, holding a lock from start to
end, and the browser tests' own queries take the same lock (`one_user_at_a_time`). On
PostgreSQL each request thread has its own connection and the threaded server stays.

The server class is set by a session fixture of the root conftest, so it holds whichever test
of a process starts the live server first (tests/integrations uses it too)."""

import threading

import pytest
from django.core.servers.basehttp import WSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

_SHARED_CONNECTION = threading.RLock()


class OneRequestAtATime(WSGIServer):
    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with _SHARED_CONNECTION:
            super().process_request(request, client_address)


def one_user_at_a_time(execute, sql, params, many, context):
    """A connection's execute wrapper: the query waits for a request in progress."""
    with _SHARED_CONNECTION:
        return execute(sql, params, many, context)


@pytest.fixture(autouse=True, scope="session")
def _live_server_for_the_database():
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LiveServerThread, "server_class", OneRequestAtATime)
        yield
