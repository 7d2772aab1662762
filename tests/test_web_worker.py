"""The web processes' worker (tensafe_ir/web.py): a kept-alive connection ends after
TENSAFE_WEB_KEEPALIVE_REQUESTS requests, so clients that keep their connections reconnect now
and then and the work reaches every worker process (issue 15: one of two processes did 68 %
of it). Real gunicorn with one or two worker processes, clients on 127.0.0.1."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.client import HTTPConnection

import pytest
from django.conf import settings

from tensafe_ir.web import KEEPALIVE_REQUESTS_DEFAULT, keepalive_requests
from tests.security.webprocess import environment, free_port, wait_until_up

WORKER = "tensafe_ir.web.BalancedThreadWorker"


@pytest.fixture
def web(tmp_path):
    """start(keepalive_requests, workers=2) -> (port, access log, master process): gunicorn
    with the production worker class, logging each request's worker pid."""
    started = []

    def start(requests: int, workers: int = 2):
        env = environment(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
        env["TENSAFE_WEB_KEEPALIVE_REQUESTS"] = str(requests)
        port, access = free_port(), tmp_path / "access.log"
        command = [sys.executable, "-m", "gunicorn", "tensafe_ir.wsgi", "--bind"]
        command += [f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", WORKER]
        command += ["--threads", "2", "--access-logfile", str(access)]
        command += ["--access-logformat", "%(p)s %(s)s"]
        with open(tmp_path / "gunicorn.log", "wb") as log:
            process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        started.append(process)
        wait_until_up(port, process)
        return port, access, process

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=20)


def _get(connection: HTTPConnection) -> str | None:
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    assert response.status == 200
    return response.getheader("Connection")


def test_a_kept_alive_connection_ends_after_its_requests(web):
    port, _, _ = web(10)
    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    answers = [_get(connection) for _ in range(25)]
    # http.client opens a new connection for the request after a "close": 1-10, 11-20, 21-25.
    assert [n for n, header in enumerate(answers, start=1) if header == "close"] == [10, 20]
    connection.close()


def test_a_process_started_later_gets_work_from_clients_that_keep_their_connections(web):
    """8 clients keep their connections busy on the one worker process; a second one is
    started (gunicorn's TTIN, as when a worker is replaced or added): it serves some of them
    within 30 s. With gunicorn's own gthread worker the connections stay where they are and
    the new process never serves one."""
    port, access, master = web(10, workers=1)
    errors, stop = [], threading.Event()

    def client():
        connection = HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            while not stop.is_set():
                _get(connection)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def served() -> Counter:
        lines = [line.split() for line in access.read_text().splitlines()]
        return Counter(pid for pid, status in lines if status == "200")

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(served().values()) < 80:
            time.sleep(0.1)
        assert len(served()) == 1, "one process served them all so far"
        master.send_signal(signal.SIGTTIN)  # one worker process more
        while time.monotonic() < deadline and len(served()) < 2:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    assert not errors, errors
    assert len(served()) == 2, f"the second process served none of them: {served()}"


@pytest.mark.parametrize(
    ("raw", "expected"), [("", KEEPALIVE_REQUESTS_DEFAULT), ("0", 0), (" 250 ", 250)]
)
def test_the_limit_is_read_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("TENSAFE_WEB_KEEPALIVE_REQUESTS", raw)
    assert keepalive_requests() == expected


@pytest.mark.parametrize("raw", ["ten", "-1", "1.5"])
def test_a_wrong_limit_stops_the_web_process_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("TENSAFE_WEB_KEEPALIVE_REQUESTS", raw)
    with pytest.raises(ValueError, match=rf"TENSAFE_WEB_KEEPALIVE_REQUESTS .*got '{raw}'"):
        keepalive_requests()
