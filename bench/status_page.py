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
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    django_setup,
    free_port,
    load_generator,
    machine,
    median_run,
    recreate_database,
    server_env,
    start_gunicorn,
    stop,
)

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
def bench_env(database_url: str) -> dict:
    return server_env(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="bench.bench_settings")


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
def start_server(env: dict, port: int, workers: int):
    options = ["--workers", str(workers), "--worker-class", "sync", "--keep-alive", "5"]
    return start_gunicorn(env, port, [*options, "--log-level", "warning"], ready_path=PLAIN_URL)


def main() -> int:
    args = parse_args()
    client, load = load_generator(args.client)
    info = machine()
    recreate_database(args.database_url)
    django_setup(bench_env(args.database_url))
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
    server = start_server(env, port, args.workers)
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
