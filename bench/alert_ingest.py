"""Alert ingestion benchmark (issue 7): how fast are deliveries answered, and do N parallel
deliveries of one payload make exactly one alert and one incident?

    .venv/bin/python bench/alert_ingest.py              # 100 parallel, the issue's run
    .venv/bin/python bench/alert_ingest.py --help       # other sizes, database, workers

What it does, in order:

1. Drops and re-creates a dedicated PostgreSQL database (default `tensafe_bench_ingest`) and
   migrates it, so nothing else is touched.
2. Creates the services the payload names and two Alertmanager integrations (one for the
   duplicate run, one for the distinct run), plus one for warming up.
3. Starts the processes as production runs them: gunicorn on 127.0.0.1 (tensafe_ir.web's
   gthread workers), a Celery worker for the default queue and beat, on a dedicated Redis
   database (default db 11, flushed), with the rate-limit counters in Redis too (default db
   12, flushed) — the request stores the delivery and answers; the worker applies it.
4. Warm-up, not measured: three bursts of N new groups and two of the baseline's 404s, so
   every gunicorn thread has opened its database connection and every path has been taken
   (measured: the first two cold bursts of 100 had p99 1.8-2.5 s, the third 335 ms).
5. Duplicates: N clients released at once by a barrier post the same Alertmanager v4 payload.
   Distinct: N clients post N payloads of N different groups.
6. Waits until every delivery is applied, then reports, for each run, reply latency
   p50/p99/max (client side: connect to last byte), status codes, how long until everything
   was applied, and alerts, groups and incidents created; JSON too (--json).

Exit status 0 when the issue's targets hold (every answer 2xx, p99 <= 500 ms, exactly one
alert and one incident for the duplicates, N and N for the distinct run), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    ROOT,
    VENV_BIN,
    WEB_WORKER,
    django_setup,
    flush_broker,
    free_port,
    migrate,
    percentile,
    prometheus_dir,
    recreate_database,
    server_env,
    start_gunicorn,
    stop,
)

PAYLOAD = ROOT / "tests" / "integrations" / "payloads" / "alertmanager_firing.json"
P99_TARGET_MS = 500


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--parallel", type=int, default=100, help="deliveries per run")
    p.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    p.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tensafe_bench_ingest"
        ),
        help="PostgreSQL database to DROP and re-create (its name must start with tensafe_bench)",
    )
    p.add_argument(
        "--broker-url",
        default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/11"),
        help="Redis database the run flushes and uses",
    )
    p.add_argument(
        "--cache-url",
        default=os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/12"),
        help="Redis database for the rate-limit counters (TENSAFE_CACHE_URL); flushed",
    )
    p.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="CPU niceness of the default-queue worker (0, as the Procfile and compose.yaml "
        "run it; 10 tries web-first priority on a shared machine)",
    )
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args()


# --- 1. database -----------------------------------------------------------------------------
def bench_env(database_url: str, broker_url: str, cache_url: str) -> dict:
    return server_env(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        TENSAFE_CACHE_URL=cache_url,
        DJANGO_SETTINGS_MODULE="tensafe_ir.settings",
    )


# --- 2. data ---------------------------------------------------------------------------------
def create_integrations() -> dict:
    from incidents.models import Service, Team
    from integrations.services.integrations import integration_create

    team, _ = Team.objects.get_or_create(slug="platform", defaults={"name": "Platform"})
    Service.objects.get_or_create(
        slug="inference-api",
        defaults={"name": "Inference API", "team": team, "runbook": "docs/runbooks/inference.md"},
    )
    out = {}
    for name in ("warmup", "duplicates", "distinct"):
        integration, secret = integration_create(actor=None, kind="alertmanager", name=name)
        out[name] = (str(integration.pk), secret)
    return out


def counts(integration_id: str) -> dict:
    from integrations.models import Alert, AlertGroup, InboundDelivery

    groups = AlertGroup.objects.filter(integration_id=integration_id)
    return {
        "deliveries_stored": InboundDelivery.objects.filter(integration_id=integration_id).count(),
        "deliveries_processed": InboundDelivery.objects.filter(
            integration_id=integration_id, status="processed"
        ).count(),
        "groups": groups.count(),
        "alerts": Alert.objects.filter(group__integration_id=integration_id).count(),
        "incidents": groups.exclude(incident=None).values("incident").distinct().count(),
    }


# --- 3. gunicorn -----------------------------------------------------------------------------
def start_web(env: dict, port: int, workers: int, threads: int, log: Path):
    options = ["--workers", str(workers), "--worker-class", WEB_WORKER, "--threads", str(threads)]
    return start_gunicorn(
        {**env, **prometheus_dir()}, port, [*options, "--backlog", "2048"], log=log
    )


def start_worker(env: dict, log: Path, niceness: int):
    return subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
        [
            shutil.which("nice") or "/usr/bin/nice",
            "-n",
            str(niceness),
            str(VENV_BIN / "celery"),
            "-A",
            "tensafe_ir",
            "worker",
            "-Q",
            "pages,celery",
            "--concurrency",
            "2",
            "-l",
            "warning",
            "-n",
            "bench-ingest@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_beat(env: dict, logs: Path):
    return subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
        [
            str(VENV_BIN / "celery"),
            "-A",
            "tensafe_ir",
            "beat",
            "-l",
            "warning",
            "--schedule",
            str(logs / "celerybeat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=(logs / "beat.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_applied(integration_id: str, expected: int, started: float, limit: float = 120) -> float:
    """Seconds from the run's start until every delivery is applied (or the limit)."""
    from django.db import connection

    from integrations.models import InboundDelivery

    while time.perf_counter() - started < limit:
        done = InboundDelivery.objects.filter(
            integration_id=integration_id, status="processed"
        ).count()
        connection.close()
        if done >= expected:
            break
        time.sleep(0.05)
    return round(time.perf_counter() - started, 2)


# --- 4-5. deliveries -------------------------------------------------------------------------
async def _post(port: int, request: bytes, start: asyncio.Event) -> tuple[int, float]:
    """One delivery on its own connection, timed from connect to the last byte of the reply."""
    await start.wait()
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        status = int(head.split(b" ", 2)[1])
        writer.close()
    except (OSError, ValueError, asyncio.IncompleteReadError):
        status = 0
    return status, (time.perf_counter() - started) * 1000


def run_parallel(port: int, path: str, secret: str, bodies: list[bytes]) -> list[tuple[int, float]]:
    """All clients connect and send at once. One thread of asyncio: a client that costs little
    CPU, so the two cores measure the server (a hundred Python threads with http.client took
    a share of them large enough to show in the figures)."""

    def request(body: bytes) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + body

    async def burst() -> list[tuple[int, float]]:
        start = asyncio.Event()
        tasks = [asyncio.create_task(_post(port, request(body), start)) for body in bodies]
        await asyncio.sleep(0)
        start.set()
        return list(await asyncio.gather(*tasks))

    return asyncio.run(burst())


def summary(results: list[tuple[int, float]]) -> dict:
    latencies = [ms for _, ms in results]
    codes: dict[str, int] = {}
    for code, _ in results:
        codes[str(code)] = codes.get(str(code), 0) + 1
    return {
        "requests": len(results),
        "status_codes": codes,
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
    }


def payload(n: int | None) -> bytes:
    data = json.loads(PAYLOAD.read_text())
    if n is not None:  # a different group (grouped by alertname and shard) and alert
        data["groupKey"] = f'{{}}:{{alertname="InferenceHighErrorRate", shard="{n}"}}'
        data["groupLabels"] = {"alertname": "InferenceHighErrorRate", "shard": str(n)}
        data["alerts"][0]["fingerprint"] = f"{n:016x}"
        data["alerts"][0]["labels"]["shard"] = str(n)
    return json.dumps(data).encode()


def scenario(port: int, integration: tuple[str, str], bodies: list[bytes]) -> dict:
    integration_id, secret = integration
    started = time.perf_counter()
    figures = summary(run_parallel(port, f"/integrations/{integration_id}/alerts/", secret, bodies))
    figures["all_applied_after_s"] = wait_applied(integration_id, len(bodies), started)
    figures.update(counts(integration_id))
    return figures


def main() -> int:
    args = parse_args()
    n = args.parallel
    env = bench_env(args.database_url, args.broker_url, args.cache_url)
    print(f"database: re-creating {urlsplit(args.database_url).path.lstrip('/')} and migrating")
    recreate_database(args.database_url)
    flush_broker(args.broker_url)
    flush_broker(args.cache_url)
    migrate(env)
    django_setup(env)
    integrations = create_integrations()
    port = free_port()
    logs = Path(tempfile.mkdtemp(prefix="tensafe-bench-ingest-"))
    print(f"gunicorn: 127.0.0.1:{port}, {args.workers} workers x {args.threads} threads ({logs})")
    web = start_web(env, port, args.workers, args.threads, logs / "gunicorn.log")
    worker = start_worker(env, logs / "worker.log", args.worker_nice)
    beat = start_beat(env, logs)
    try:
        unknown = "00000000-0000-4000-8000-000000000000"
        for burst in range(3):
            warm = [payload(10_000 + burst * n + i) for i in range(n)]
            scenario(port, integrations["warmup"], warm)
        for _ in range(2):
            run_parallel(port, f"/integrations/{unknown}/alerts/", "x", [payload(None)] * n)
        # The floor on this machine: the same burst answered 404 after one query.
        baseline = summary(
            run_parallel(port, f"/integrations/{unknown}/alerts/", "x", [payload(None)] * n)
        )
        duplicates = scenario(port, integrations["duplicates"], [payload(None)] * n)
        distinct = scenario(port, integrations["distinct"], [payload(i) for i in range(n)])
    finally:
        stop(web)
        stop(worker)
        stop(beat)

    figures = {
        "parallel": n,
        "gunicorn": f"{args.workers} workers x {args.threads} threads ({WEB_WORKER})",
        "worker": f"celery, 2 processes at nice {args.worker_nice}, and beat",
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "baseline_404": baseline,
        "duplicates": duplicates,
        "distinct": distinct,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    ok = (
        duplicates["status_codes"] == {"202": n}
        and distinct["status_codes"] == {"202": n}
        and duplicates["p99_ms"] <= P99_TARGET_MS
        and distinct["p99_ms"] <= P99_TARGET_MS
        and (duplicates["alerts"], duplicates["incidents"]) == (1, 1)
        and (distinct["alerts"], distinct["incidents"]) == (n, n)
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
