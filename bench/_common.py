"""What the HTTP benchmarks share: a throw-away PostgreSQL database, Django set up in the
benchmark's own process, gunicorn started and stopped as a process group, a load generator
(`wrk`, or a Python client when wrk is missing) and percentiles.

Nothing here decides what a benchmark measures or which targets it holds; each script keeps
its own arguments, data and verdict (bench/README.md).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


# --- database and Django ---------------------------------------------------------------------
def recreate_database(url: str) -> None:
    """DROP and CREATE the database `url` names (which must start with tensafe_bench)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.startswith("tensafe_bench"):
        sys.exit(
            f"refusing to drop {name!r}: the bench database name must start with tensafe_bench"
        )
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_broker(url: str) -> None:
    """Empty the Redis database `url` names (each benchmark has its own)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def server_env(**settings: str) -> dict:
    """This process's environment plus `settings`, with the repository importable."""
    return {**os.environ, "TENSAFE_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **settings}


def migrate(env: dict) -> None:
    """`manage.py migrate` in a subprocess with `env`."""
    subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [str(VENV_BIN / "python"), "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def django_setup(env: dict) -> None:
    """Set Django up in this process with the server's environment (PYTHONPATH aside)."""
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- gunicorn --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The web processes' worker class, as the Procfile, compose.yaml and the Dockerfile start them.
WEB_WORKER = "tensafe_ir.web.BalancedThreadWorker"


def proc_stat(stat: Path) -> tuple[int, float] | None:
    """A process's /proc/<pid>/stat read: (process group, CPU seconds user + system so far);
    None when the process is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_cpu_seconds(server: subprocess.Popen) -> dict[int, float]:
    """CPU time (user + system) so far of each worker process of the gunicorn `server`."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    read = {pid: proc_stat(Path(f"/proc/{pid}/stat")) for pid in map(int, children)}
    return {pid: stat[1] for pid, stat in read.items() if stat is not None}


def worker_spread(before: dict[int, float], after: dict[int, float]) -> dict:
    """Each worker's CPU between two `worker_cpu_seconds` readings, and the busiest one's
    against the mean (1.0: perfectly even)."""
    spent = sorted((round(after[pid] - before.get(pid, 0.0), 2) for pid in after), reverse=True)
    mean = sum(spent) / len(spent) if spent else 0.0
    return {"cpu_s": spent, "busiest_to_mean": round(spent[0] / mean, 2) if mean else None}


def start_gunicorn(
    env: dict,
    port: int,
    options: list[str],
    *,
    log: Path | None = None,
    ready_path: str | None = None,
    timeout: float = 60,
) -> subprocess.Popen:
    """`gunicorn tensafe_ir.wsgi` on 127.0.0.1:`port` with `options`, in its own process group.
    Returns once it answers: a 200 for GET `ready_path`, or without one an accepted connection.
    Its output goes to `log` (else to this process's)."""
    output = log.open("w") if log is not None else None
    process = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
        [str(VENV_BIN / "gunicorn"), "tensafe_ir.wsgi", "--bind", f"127.0.0.1:{port}", *options],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with status {process.returncode}" + _see(log))
        try:
            if ready_path is None:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return process
            connection = HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", ready_path)
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    stop(process)
    sys.exit(f"gunicorn did not answer within {timeout:.0f} s" + _see(log))


def _see(log: Path | None) -> str:
    return f"; see {log}" if log is not None else ""


def prometheus_dir() -> dict:
    """PROMETHEUS_MULTIPROC_DIR as production sets it with several gunicorn workers
    (docs/architecture.md): an empty directory."""
    return {"PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="tensafe-bench-prom-")}


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after 20 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


# --- load ------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` 0..1) of `values`, in any order."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _lua_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def run_wrk(
    port: int,
    url: str,
    connections: int,
    duration: float,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    lua: str = "",
) -> dict:
    """One `wrk -t1 -c<connections> -d<duration>s --latency` run: requests/s, p50/p99 (ms),
    answers that were not 2xx/3xx and socket errors (timeouts included). `lua` is added to
    wrk's script (a `request` function there asks its own URLs)."""
    command = [shutil.which("wrk"), "-t", "1", "-c", str(connections)]
    command += ["-d", f"{max(1, round(duration))}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"wrk.method = {_lua_quote(method)}\n")
        if body is not None:
            script.write(f"wrk.body = {_lua_quote(body.decode())}\n")
        script.write(lua)
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments
            [*command, "-s", script.name, f"http://127.0.0.1:{port}{url}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    latency = {
        q: _ms(v, u) for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
        out,
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(n) for n in sockets.groups()) if sockets else 0),
    }


def run_python(
    port: int,
    url: str,
    connections: int,
    duration: float,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """The same figures as `run_wrk` from a bounded pool of threads, each with one keep-alive
    connection (slower than wrk: it competes with the server for the CPU)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker():
        connection = HTTPConnection("127.0.0.1", port, timeout=10)
        mine, failed = [], 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            connection.request(method, url, body=body, headers=headers or {})
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            failed += response.status >= 400
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "errors": errors[0],
    }


def load_generator(choice: str):
    """(name, function) for `--client` auto|wrk|python: auto takes wrk when it is installed."""
    if choice == "auto":
        choice = "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk); or use --client python")
    return choice, run_wrk if choice == "wrk" else run_python


def median_run(runs: list[dict]) -> dict:
    """The run nearest the median requests/s, with the median and every run's figure."""
    median = statistics.median(r["rps"] for r in runs)
    chosen = min(runs, key=lambda r: abs(r["rps"] - median))
    return {**chosen, "rps": round(median, 1), "runs_rps": [round(r["rps"], 1) for r in runs]}


def machine() -> dict:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def load_average() -> float:
    """The 1-minute load average (the machine is shared: every figure is read against it)."""
    return round(os.getloadavg()[0], 2)
