"""Status page benchmark (issue 4): requests/s of `/status/summary.json` against a plain Django
JSON view, in the same run, on the same gunicorn.

    .venv/bin/python bench/status_page.py            # the documented run
    .venv/bin/python bench/status_page.py --help     # shorter runs, other database, workers

What it does, in order:

1. Drops and re-creates a separate PostgreSQL database (default `tensafe_bench_status`) and
   migrates it fresh, so nothing else is touched.
2. Seeds it: the catalog's services (topped up to `--services`), `--incidents` public incidents
   spread over the last 90 days (P1-P4, one to three services each, two or three status-page
   updates each, plus internal updates that must stay private), `--active` of them still open,
   a security incident and a drill (never public), and two maintenance windows.
3. Starts gunicorn on 127.0.0.1 (`--workers` sync workers) with `bench.bench_settings`, whose
   urlconf adds `/bench/plain.json` (a JsonResponse, no query) — production has no such route.
4. Warms both URLs, then runs the load generator `--runs` times per URL, alternating plain and
   status so drift in the shared machine's load hits both alike: `wrk` (Debian package) with
   `--connections` keep-alive connections for `--duration` seconds, or, if wrk is missing, a
   bounded Python thread pool with keep-alive connections.
5. Reports the median requests/s of the runs, p50/p99 latency of the median run, the ratio
   status/plain (target >= 0.6) and the queries a cached hit costs (counted in-process with
   the same settings: asking for the version on every request, and while a process
   remembers it, `--version-ttl`); writes the figures as JSON too (--json).

Exit status 0 when the ratio target holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
STATUS_URL = "/status/summary.json"
PLAIN_URL = "/bench/plain.json"
TARGET_RATIO = 0.6


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_STATUS_DATABASE_URL", "postgres://root@127.0.0.1:5432/tensafe_bench_status"
        ),
    )
    p.add_argument("--services", type=int, default=6)
    p.add_argument("--incidents", type=int, default=200, help="public incidents over 90 days")
    p.add_argument("--active", type=int, default=3, help="of which still open")
    p.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    p.add_argument("--connections", type=int, default=8, help="concurrent keep-alive clients")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    p.add_argument("--runs", type=int, default=3, help="runs per URL (the median is reported)")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument(
        "--version-ttl",
        type=float,
        default=1.0,
        help="TENSAFE_STATUS_VERSION_TTL_SECONDS for the server (0: one query on every hit)",
    )
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args()


# --- 1. database -----------------------------------------------------------------------------
def recreate_database(url: str) -> None:
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


def bench_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="bench.bench_settings",
        TENSAFE_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def django_setup(database_url: str) -> None:
    os.environ.update({k: v for k, v in bench_env(database_url).items() if k != "PYTHONPATH"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- 2. data ---------------------------------------------------------------------------------
def seed(n_services: int, n_incidents: int, n_active: int) -> dict:
    """Rows written directly (not through the services): the page reads incidents, their
    services and updates, and this is the quickest way to lay out 90 days of them."""
    from django.core.management import call_command
    from django.db import transaction

    from comms.models import Maintenance, Update
    from incidents.models import Incident, Service, Team

    call_command("migrate", verbosity=0, interactive=False)
    rng = random.Random(4)  # noqa: S311 - seeded sample data, not secrets
    now = datetime.now(UTC)
    with transaction.atomic():
        team = Team.objects.order_by("id").first() or Team.objects.create(slug="sre", name="SRE")
        services = list(Service.objects.order_by("id")[:n_services])
        for n in range(len(services), n_services):
            services.append(
                Service.objects.create(
                    slug=f"bench-{n}", name=f"Bench service {n}", team=team, runbook="-"
                )
            )
        incidents, updates = [], []
        for n in range(n_incidents + 2):
            detected = now - timedelta(minutes=rng.randint(30, 89 * 24 * 60))
            active = n < n_active
            incidents.append(
                Incident(
                    title=f"Bench incident {n}",
                    severity=rng.choice(["P1", "P2", "P3", "P4"]),
                    status="identified" if active else "resolved",
                    detection_source="monitoring",
                    security=n == n_incidents,
                    drill=n == n_incidents + 1,
                    channel_name=f"#inc-bench-{n}",
                    bridge_url="https://meet.tensafe.io/incident",
                    detected_at=detected,
                    declared_at=detected,
                    resolved_at=None if active else detected + timedelta(hours=rng.randint(1, 30)),
                )
            )
        Incident.objects.bulk_create(incidents)
        through = Incident.services.through
        links = []
        for incident in incidents:
            for service in rng.sample(services, rng.randint(1, 3)):
                links.append(through(incident_id=incident.pk, service_id=service.pk))
            for k, template in enumerate(["investigating", "identified", "monitoring"]):
                at = incident.detected_at + timedelta(minutes=10 + 30 * k)
                updates.append(
                    Update(
                        incident=incident,
                        channel="status_page",
                        template=template,
                        text=f"{template.title()}: we are working on {incident.title}.",
                        posted_at=min(at, now),
                    )
                )
                updates.append(
                    Update(incident=incident, channel="internal", text="internal", posted_at=at)
                )
        through.objects.bulk_create(links)
        Update.objects.bulk_create(updates)
        Maintenance.objects.create(
            title="Database upgrade",
            starts_at=now + timedelta(days=2),
            ends_at=now + timedelta(days=2, hours=1),
        )
        Maintenance.objects.create(
            title="Cache resize",
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(days=1),
        )
    return {
        "services": len(services),
        "public_incidents": n_incidents,
        "active": n_active,
        "status_page_updates": Update.objects.filter(channel="status_page").count(),
    }


def cached_hit_queries(version_ttl: float) -> int:
    """Queries one cached request for the JSON costs, counted in this process."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from comms.status.caching import status_version_forget

    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = version_ttl
    status_version_forget()
    client = Client()
    client.get(STATUS_URL)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(STATUS_URL).status_code == 200
    return len(queries)


# --- 3. server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
        [
            str(VENV_BIN / "gunicorn"),
            "tensafe_ir.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", PLAIN_URL)
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    sys.exit("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


# --- 4. load ---------------------------------------------------------------------------------
def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port: int, url: str, connections: int, duration: float) -> dict:
    out = subprocess.run(  # noqa: S603 - fixed arguments
        [
            shutil.which("wrk"),
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{duration:.0f}s",
            "--latency",
            f"http://127.0.0.1:{port}{url}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {
        q: _ms(v, u) for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "errors": int(errors.group(1)) if errors else 0,
    }


def run_python(port: int, url: str, connections: int, duration: float) -> dict:
    """A bounded pool of threads, each with one keep-alive connection."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker():
        connection = HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            connection.request("GET", url)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "errors": errors[0],
    }


def median_run(runs: list[dict]) -> dict:
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


def main() -> int:
    args = parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    load = run_wrk if client == "wrk" else run_python
    info = machine()
    recreate_database(args.database_url)
    django_setup(args.database_url)
    data = seed(args.services, args.incidents, args.active)
    queries = {
        "version_asked_every_request": cached_hit_queries(0),
        "version_remembered": cached_hit_queries(args.version_ttl),
    }
    from django.db import connections

    connections.close_all()
    port = args.port or free_port()
    env = bench_env(args.database_url)
    env["TENSAFE_STATUS_VERSION_TTL_SECONDS"] = str(args.version_ttl)
    server = start_gunicorn(env, port, args.workers)
    try:
        for url in (PLAIN_URL, STATUS_URL):  # every worker renders and caches once
            load(port, url, args.connections, 2)
        results = {PLAIN_URL: [], STATUS_URL: []}
        for _ in range(args.runs):
            for url in (PLAIN_URL, STATUS_URL):
                results[url].append(load(port, url, args.connections, args.duration))
    finally:
        stop(server)
    plain, status = median_run(results[PLAIN_URL]), median_run(results[STATUS_URL])
    ratio = round(status["rps"] / plain["rps"], 2)
    figures = {
        "machine": info,
        "data": data,
        "client": client,
        "workers": args.workers,
        "connections": args.connections,
        "duration_s": args.duration,
        "runs": args.runs,
        "plain": plain,
        "status_summary_json": status,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "version_ttl_s": args.version_ttl,
        "queries_per_cached_hit": queries,
    }
    print(json.dumps(figures, indent=2))
    print(
        f"\n{STATUS_URL}: {status['rps']} req/s (p50 {status['p50_ms']:.2f} ms, "
        f"p99 {status['p99_ms']:.2f} ms); plain JSON view: {plain['rps']} req/s "
        f"(p50 {plain['p50_ms']:.2f} ms, p99 {plain['p99_ms']:.2f} ms); ratio {ratio} "
        f"(target >= {TARGET_RATIO}); version TTL {args.version_ttl} s; queries per cached "
        f"hit: {queries['version_asked_every_request']} asking every time, "
        f"{queries['version_remembered']} while remembered"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
