"""Issue 12, finding 9, "Done when": 30 parallel failed sign-ins spread over two web processes
stop at the limit. Two real gunicorn processes (as the Procfile starts them, one port each)
share one database and no cache: exactly the limit reaches authentication, the rest get 429.

The default setup (a SQLite file, no TENSAFE_CACHE_URL) runs everywhere; the same on
PostgreSQL runs under the `postgres` marker, against the test database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import UserFactory

ATTEMPTS = 30
LIMIT = 10  # TENSAFE_RATE_LOGIN_USERNAME_ADDRESS's default: 10 per 5 minutes
# The machine's settings that would change what is tested (a Redis for the counters, another
# database, HTTPS redirects).
CLEARED = (
    "DATABASE_URL",
    "TENSAFE_CACHE_URL",
    "TENSAFE_RATE_LOGIN_USERNAME",
    "TENSAFE_RATE_LOGIN_USERNAME_ADDRESS",
    "TENSAFE_RATE_LOGIN_ADDRESS",
    "TENSAFE_PRODUCTION",
    "TENSAFE_HTTPS",
    "TENSAFE_SSL_REDIRECT",
    "TENSAFE_TRUSTED_PROXY_COUNT",
    "DJANGO_DEBUG",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(database_url: str, var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(DATABASE_URL=database_url, TENSAFE_VAR_DIR=str(var_dir))
    return env


def _manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"web process on port {port} did not start")


def _web_processes(env: dict, count: int):
    """`count` gunicorn processes (one worker with threads each, so requests run in
    parallel), each on its own free port."""
    processes = []
    for _ in range(count):
        port = _free_port()
        command = [sys.executable, "-m", "gunicorn", "tensafe_ir.wsgi"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "16"]
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        processes.append((port, process))
    return processes


def _stop(processes) -> None:
    for _, process in processes:
        process.terminate()
    for _, process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _csrf(port: int) -> tuple[str, str]:
    """The sign-in form's CSRF cookie and token (any process accepts them: one secret key)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=30) as response:
        cookie = re.search(r"csrftoken=([^;]+)", response.headers["Set-Cookie"]).group(1)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.read())
    return cookie, token.group(1).decode()


def _sign_in(port: int, cookie: str, token: str, password: str) -> int:
    body = urllib.parse.urlencode(
        {"username": "maria", "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/login/",
        data=body,
        headers={"Cookie": f"csrftoken={cookie}", "Referer": f"http://127.0.0.1:{port}/login/"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _away_from_a_window_boundary(period: int = 300, margin: int = 30) -> None:
    """Windows are fixed: a burst straddling two may count in both. Wait out the last seconds
    of a window (real time: the servers have their own clocks)."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 1)


def _burst_over_two_processes(env: dict) -> list[int]:
    processes = _web_processes(env, 2)
    try:
        for port, process in processes:
            _wait_until_up(port, process)
        _away_from_a_window_boundary()
        cookie, token = _csrf(processes[0][0])
        ports = [processes[n % 2][0] for n in range(ATTEMPTS)]
        with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
            return list(
                pool.map(lambda n: _sign_in(ports[n], cookie, token, f"wrong{n}"), range(ATTEMPTS))
            )
    finally:
        _stop(processes)


def _assert_stopped_at_the_limit(codes: list[int]) -> None:
    # 200: the form again with "wrong username or password" (authentication ran and failed).
    assert codes.count(200) == LIMIT, codes
    assert codes.count(429) == ATTEMPTS - LIMIT, codes


def test_parallel_failed_sign_ins_over_two_processes_stop_at_the_limit(tmp_path):
    """The default setup: a SQLite file, no cache; the counters are rows in that file."""
    env = _environment(f"sqlite:///{tmp_path / 'tensafe.sqlite3'}", tmp_path)
    _manage(env, "migrate", "--noinput")
    _manage(
        env,
        "shell",
        "-c",
        "from incidents.models import User; User.objects.create_user('maria', password='pw-1x')",
    )

    _assert_stopped_at_the_limit(_burst_over_two_processes(env))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_failed_sign_ins_over_two_processes_on_postgresql(tmp_path):
    """The same against PostgreSQL: the processes use this test's (committed) database."""
    UserFactory(username="maria")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    connection.close()

    _assert_stopped_at_the_limit(_burst_over_two_processes(_environment(url, tmp_path)))
