"""Real web processes for tests: gunicorn started as the Procfile starts it (its logger class
included), on free ports of 127.0.0.1, against a database the test names."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

# The machine's settings that would change what is tested (a Redis for the counters, another
# database, HTTPS redirects, other limits).
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
    "TENSAFE_PUBLIC_BASE_URL",
    "DJANGO_DEBUG",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(database_url: str, var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(DATABASE_URL=database_url, TENSAFE_VAR_DIR=str(var_dir))
    return env


def manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"web process on port {port} exited: see {process.args}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"web process on port {port} did not start")


def web_processes(env: dict, count: int, log_dir: Path) -> list[tuple[int, subprocess.Popen]]:
    """`count` gunicorn processes (one worker with threads each, so requests run in parallel),
    each on its own free port, logging as the Procfile's web process does: the access log and
    the error log (with the application's lines) go to `log_dir`/<port>.log."""
    processes = []
    for _ in range(count):
        port = free_port()
        command = [sys.executable, "-m", "gunicorn", "tensafe_ir.wsgi"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "16"]
        command += ["--worker-class", "tensafe_ir.web.BalancedThreadWorker"]
        command += ["--access-logfile", "-", "--logger-class", "tensafe_ir.logs.GunicornLogger"]
        with open(log_dir / f"{port}.log", "wb") as log:
            process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        processes.append((port, process))
    for port, process in processes:
        wait_until_up(port, process)
    return processes


def stop(processes) -> None:
    for _, process in processes:
        process.terminate()
    for _, process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
