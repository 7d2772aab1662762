"""Bad day benchmark (issue 16): escalations, an alert storm and a crowd watching the P1, all at
once, while a timers worker is killed and Redis restarts, against a timers-only baseline run
in the same sitting.

    .venv/bin/python bench/bad_day.py                     # the issue's run (~7-10 minutes)
    .venv/bin/python bench/bad_day.py --scale 0.1 --minutes 1 --kill-at 20 --redis-restart-at 40
    .venv/bin/python bench/bad_day.py --help              # every size and time

What it does, in order (defaults in brackets; every count times --scale):

1. Starts a `redis-server` of its own on a free port of 127.0.0.1 with `--save ""
   --appendonly no` in a temporary directory (the broker on db 0, the rate-limit counters on
   db 1; the shared Redis on 6379 is not touched), and for each phase drops and re-creates the
   PostgreSQL database `tensafe_bench_badday` (`--database-url`; the name must start with
   tensafe_bench) and empties that Redis by restarting it.
2. Creates the timer data exactly as bench/timers.py does: N [10,000] open P1 incidents, each
   with one pending escalation deadline as the planner writes it and one VP Engineering with
   an email contact method (Django's locmem backend: nothing leaves the machine), so every
   firing writes one page through the outbox. For the bad day also: an API token that sees
   every incident (bench/load.py) and an Alertmanager integration (bench/alert_ingest.py).
3. Starts the Procfile's processes one by one, each in its own process group: gunicorn
   (BalancedThreadWorker, 2 workers x 2 threads), a default-queue worker (`-Q pages,celery -c 2`),
   `--timers-workers` [2] timers workers (`-Q timers -c 1`, `timers1@%h`, `timers2@%h`, ...)
   and beat. Once all are up it re-dates the deadlines to fall due evenly over `--minutes` [3]
   (bench/timers.py's `schedule_due`).
4. Baseline (`--skip-baseline` leaves it out): that alone, no requests, no faults.
5. Bad day, on a fresh database and an empty Redis, the same and, from the first due time for
   `--minutes`, from one load-generator thread (asyncio and raw sockets, so it costs little
   CPU; its own CPU is reported):
   - `--alerts-per-minute` [1,000] Alertmanager deliveries, open loop at an even pace, over
     `--groups` [100] alert groups (the first of each group opens its incident, the rest are
     repeats; `startsAt` is the start of the storm), posted with the integration's bearer
     secret, each on a connection of its own; reply status and latency recorded;
   - `--watchers` [200] clients, each polling one P1's detail (`GET /api/v1/incidents/<id>/`,
     with `If-None-Match` naming the last ETag the detail returned) and then its timeline
     every 2 s on a new connection (gunicorn's keep-alive timeout is 2 s), staggered; a poll
     whose turn comes while the previous one is still waiting is skipped and counted as not
     done;
   - at `--kill-at` [60 s] SIGKILL of the first timers worker's whole process group, started
     again (same node name) `--restart-after` [10 s] later;
   - at `--redis-restart-at` [120 s] Redis shut down without saving and started again: every
     queued message is lost (how many is counted just before).
6. Each phase waits until the last deadline is due plus `--margin` [15 s] (the cut-off, at
   which deadlines are judged, as bench/timers.py), then up to `--drain` [180 s] for pages
   still to be sent; then stops every process it started (and finally its Redis).
7. Reads the figures from the database and the clients' own timestamps:
   - deadlines lost (pending at the cut-off) / doubled (more than one timeline event);
     lateness (Deadline.lateness_ms) p50/p99/max; deadline -> page sent p50/p99;
   - alert replies p50/p99 and status counts, groups and incidents made; watcher reads
     p50/p99, errors, 304s and the share of polls done;
   - the timers kill: the longest gap between consecutive fired_at values from the kill
     until 5 s after the restarted worker is ready (and the lateness of deadlines due then);
   - the Redis restart: seconds from the shutdown until no page is pending past its deadline
     plus the page outbox's grace period (10 s), a deadline not yet fired counting as its page
     pending: the end of the run of overdue time that began by shutdown + 20 s (0 s if none);
   - CPU seconds of each process group from the re-dating to the cut-off: web, worker,
     timers, beat, the load generator, and the whole PostgreSQL server (whoever uses it).
   The baseline's kill and recovery figures are the same measures at the same times with no
   fault: what the load alone does then. Prints a markdown table of each figure against its
   target, baseline and bad day side by side; `--json PATH` writes everything (with
   30-second windows of the client figures).

Exit status 0 when every target holds in both phases (0 lost, 0 doubled, lateness p99 <= 1 s,
deadline -> page sent p99 <= 5 s and every page sent, alert replies p99 <= 500 ms and all 202
with one incident per group, watcher reads p99 <= 200 ms with 0 errors, firing gap around the
kill <= 1 s, recovery after the Redis restart <= 15 s), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import timers
from bench._common import (
    ROOT,
    WEB_WORKER,
    free_port,
    load_average,
    percentile,
    proc_stat,
    prometheus_dir,
    recreate_database,
    start_gunicorn,
    stop,
)
from bench.alert_ingest import counts, create_integrations, payload
from bench.load import create_people

TARGETS = {
    "lateness_p99_ms": 1000,
    "page_p99_ms": 5000,
    "alert_p99_ms": 500,
    "watch_p99_ms": 200,
    "kill_gap_ms": 1000,
    "recovery_s": 15,
}
PAGE_GRACE_S = 10  # the page outbox's requeue grace (incidents.services.paging.POLICY)
WINDOW_S = 30  # the client figures' windows in the JSON


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deadlines", type=int, default=10_000, help="escalation deadlines due")
    p.add_argument("--minutes", type=float, default=3.0, help="minutes they fall due over")
    p.add_argument("--alerts-per-minute", type=int, default=1000, help="Alertmanager deliveries")
    p.add_argument("--groups", type=int, default=100, help="alert groups (one incident each)")
    p.add_argument("--watchers", type=int, default=200, help="clients polling the P1")
    p.add_argument(
        "--poll-every", type=float, default=2.0, help="seconds between a watcher's polls"
    )
    p.add_argument("--kill-at", type=float, default=60.0, help="seconds in: SIGKILL timers1")
    p.add_argument("--restart-after", type=float, default=10.0, help="...and start it again")
    p.add_argument(
        "--redis-restart-at", type=float, default=120.0, help="seconds in: restart Redis"
    )
    p.add_argument("--timers-workers", type=int, default=2, help="timers workers (Procfile)")
    p.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (Procfile)")
    p.add_argument("--web-threads", type=int, default=2, help="threads each (Procfile)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    p.add_argument("--skip-baseline", action="store_true", help="the bad day only")
    p.add_argument("--lead", type=float, default=3.0, help="seconds from re-dating to first due")
    p.add_argument("--margin", type=float, default=15.0, help="seconds after the last due")
    p.add_argument("--drain", type=float, default=180.0, help="then at most this, for pages")
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/tensafe_bench_badday"
        ),
        help="PostgreSQL database to DROP and re-create (its name must start with tensafe_bench)",
    )
    p.add_argument("--json", type=Path, help="also write every figure here")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs, say where")
    args = p.parse_args()
    for name in ("deadlines", "alerts_per_minute", "groups", "watchers"):
        setattr(args, name, max(1, round(getattr(args, name) * args.scale)))
    args.seconds = args.minutes * 60
    if not 0 < args.kill_at < args.kill_at + args.restart_after < args.seconds:
        p.error("--kill-at and --kill-at + --restart-after must fall within --minutes")
    if not 0 < args.redis_restart_at < args.seconds:
        p.error("--redis-restart-at must fall within --minutes")
    if min(args.timers_workers, args.web_workers, args.web_threads) < 1:
        p.error("--timers-workers, --web-workers and --web-threads must be at least 1")
    return args


# --- 1. the run's own Redis ------------------------------------------------------------------
class PrivateRedis:
    """A `redis-server` of the run's own on a free port, keeping nothing on disk (as
    tests/faults/conftest.py's PrivateRedis): restarting it loses every queued message."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def client(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: redis-py's default ones (with backoff) kept SHUTDOWN's expected lost
        # connection waiting ~3.6 s, the server down that much longer than a restart takes.
        return redis.Redis(
            port=self.port, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # any failure means "not answering"
            return False

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - redis-server, fixed arguments
            [
                shutil.which("redis-server"),
                *("--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no"),
                *("--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not self.ping():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit(f"redis-server did not start; see {self.folder / 'redis.log'}")
            time.sleep(0.05)

    def queued(self) -> dict[str, int]:
        """Messages held: each list's length (the queues) and the unacknowledged ones."""
        conn, held = self.client(), {}
        for key in conn.scan_iter(count=1000):
            kind = conn.type(key)
            if kind == b"list":
                held[key.decode(errors="replace")] = conn.llen(key)
            elif key == b"unacked" and kind == b"hash":
                held["unacked"] = conn.hlen(key)
        return held

    def restart_without_saving(self) -> None:
        """What `redis-cli shutdown nosave` and a start do: everything it held is gone."""
        with contextlib.suppress(Exception):
            self.client().shutdown(nosave=True)
        self.proc.wait(15)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# --- 3. processes ----------------------------------------------------------------------------
def timers_args(i: int) -> list[str]:
    return ["worker", "-Q", "timers", "--concurrency", "1", "-l", "info", "-n", f"timers{i}@%h"]


def start_processes(args, procs: timers.Processes, env: dict, port: int):
    """The Procfile's processes, each in its own process group; returns gunicorn's Popen."""
    logdir = procs.logdir
    web_env = {**env, "TENSAFE_LOG_LEVEL": "WARNING", **prometheus_dir()}
    options = ["--workers", str(args.web_workers), "--worker-class", WEB_WORKER]
    options += ["--threads", str(args.web_threads), "--access-logfile", "-"]
    options += ["--logger-class", "tensafe_ir.logs.GunicornLogger"]
    web = start_gunicorn(web_env, port, options, log=logdir / "web.log", ready_path="/healthz")
    procs.start("beat", ["beat", "-l", "info", "-s", str(logdir / "celerybeat-schedule")])
    procs.start(
        "worker-default",
        ["worker", "-Q", "pages,celery", "--concurrency", "2", "-l", "info", "-n", "worker@%h"],
    )
    for i in range(1, args.timers_workers + 1):
        procs.start(f"worker-timers{i}", timers_args(i))
    procs.wait_ready()
    return web


def postgres_cpu() -> float | None:
    """CPU seconds of the whole PostgreSQL server so far: the postmaster, its live children and
    (cutime/cstime) the children it has reaped. Every database's, not only the run's."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    try:
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    except OSError:  # PostgreSQL elsewhere (another host, a container)
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(int(f) for f in fields[11:15]) / tick
    for pid in children:
        read = proc_stat(Path(f"/proc/{pid}/stat"))
        total += read[1] if read else 0.0
    return total


def cpu_reading(procs: timers.Processes, web) -> dict:
    reading = procs.cpu_seconds()
    reading["web"] = round(timers._cpu_of(lambda pgrp, _pid: pgrp == web.pid), 1)
    reading["postgresql (whole server)"] = postgres_cpu()
    reading["bench process"] = time.process_time()
    return reading


def cpu_by_group(before: dict, after: dict, killed: dict[str, float]) -> dict[str, float]:
    """CPU seconds between two readings, by process group (timers workers summed; a killed
    one's CPU as read just before the kill)."""
    spent: dict[str, float] = {}
    for name in set(before) | set(after):
        if name in killed:
            used = killed[name]
        elif after.get(name) is None:
            continue
        else:
            used = after[name] - (before.get(name) or 0.0)
        group = "timers" if name.startswith("worker-timers") else name
        group = "worker" if group == "worker-default" else group
        spent[group] = round(spent.get(group, 0.0) + used, 1)
    return spent


# --- 5. the load generator -------------------------------------------------------------------
async def _exchange(reader, writer, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send one request, read its whole answer: (status, headers in lower case)."""
    writer.write(head.encode() + body)
    await writer.drain()
    raw = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(raw[0].split(" ", 2)[1])
    headers = {}
    for line in raw[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if status in (204, 304) or status < 200:
        pass
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readline()).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readexactly(2)
    elif "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:
        await reader.read()
    return status, headers


class Load:
    """Alerts and watchers from one thread running asyncio: a client that costs little CPU, so
    the two cores measure the server. Every time is the client's own (offsets from the first
    due time); `cpu_s` is this thread's CPU."""

    TIMEOUT = 30.0

    def __init__(self, args, port: int, integration: tuple[str, str], token: str, watched: int):
        self.args, self.port = args, port
        self.alert_path = f"/integrations/{integration[0]}/alerts/"
        self.secret, self.token = integration[1], token
        self.detail = f"/api/v1/incidents/{watched}/"
        self.timeline = f"/api/v1/incidents/{watched}/timeline/"
        self.alerts: list[tuple[float, int, float]] = []  # (sent at, status, ms)
        self.reads: list[tuple[float, str, int, float]] = []  # (at, detail|timeline, status, ms)
        self.polls = {"due": 0, "done": 0, "skipped": 0}
        self.cpu_s = 0.0
        self.thread: threading.Thread | None = None

    def start(self, at_monotonic: float, starts_at: datetime) -> None:
        stamp = starts_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.bodies = []
        for group in range(self.args.groups):
            data = json.loads(payload(group))
            data["alerts"][0]["startsAt"] = stamp  # the storm starts now, not days ago
            self.bodies.append(json.dumps(data).encode())
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self._run(at_monotonic)), name="load", daemon=True
        )
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(self.TIMEOUT + 10)

    async def _run(self, t0: float) -> None:
        cpu = time.thread_time()
        end = t0 + self.args.seconds
        tasks = [asyncio.create_task(self._watcher(i, t0, end)) for i in range(self.args.watchers)]
        tasks.append(asyncio.create_task(self._alerts(t0, end)))
        await asyncio.gather(*tasks)
        self.cpu_s = round(time.thread_time() - cpu, 1)

    async def _connect(self):
        return await asyncio.open_connection("127.0.0.1", self.port)

    def _head(self, method: str, path: str, headers: dict, close: bool) -> str:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Connection: {'close' if close else 'keep-alive'}")
        return "\r\n".join(lines) + "\r\n\r\n"

    async def _alerts(self, t0: float, end: float) -> None:
        every = 60.0 / self.args.alerts_per_minute
        sends, i = [], 0
        while (at := t0 + i * every) < end:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            sends.append(asyncio.create_task(self._alert(self.bodies[i % len(self.bodies)], t0)))
            i += 1
        await asyncio.gather(*sends)

    async def _alert(self, body: bytes, t0: float) -> None:
        headers = {
            "Authorization": f"Bearer {self.secret}",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        }
        started = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(self._connect(), self.TIMEOUT)
            head = self._head("POST", self.alert_path, headers, close=True)
            status, _ = await asyncio.wait_for(_exchange(reader, writer, head, body), self.TIMEOUT)
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
            status = 0
        finally:
            if writer is not None:
                writer.close()
        self.alerts.append((started - t0, status, (time.monotonic() - started) * 1000))

    async def _watcher(self, i: int, t0: float, end: float) -> None:
        every = self.args.poll_every
        etag = None
        turn = t0 + every * i / self.args.watchers  # staggered evenly over one period
        while turn < end:
            self.polls["due"] += 1
            now = time.monotonic()
            if now > turn + every:  # the previous poll ran through this turn
                self.polls["skipped"] += 1
            else:
                await asyncio.sleep(max(0.0, turn - now))
                etag = await self._poll(t0, etag)
            turn += every

    async def _poll(self, t0: float, etag: str | None) -> str | None:
        auth = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        writer = None
        done = True
        for kind, path in (("detail", self.detail), ("timeline", self.timeline)):
            headers = {**auth, "If-None-Match": etag} if kind == "detail" and etag else auth
            started = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(self._connect(), self.TIMEOUT)
                head = self._head("GET", path, headers, close=kind == "timeline")
                status, answer = await asyncio.wait_for(
                    _exchange(reader, writer, head), self.TIMEOUT
                )
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
                status, answer, done = 0, {}, False
            self.reads.append((started - t0, kind, status, (time.monotonic() - started) * 1000))
            if kind == "detail" and status == 200:
                etag = answer.get("etag", etag)
            if status == 0 or answer.get("connection", "").lower() == "close":
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()
        self.polls["done"] += done
        return etag

    def figures(self) -> dict:
        alerts, reads = self.alerts, self.reads
        due = self.polls["due"]
        return {
            "alerts": {
                **_latency([ms for *_, ms in alerts]),
                "planned": int(self.args.seconds * self.args.alerts_per_minute / 60),
                "status_codes": _codes(status for _, status, _ in alerts),
                "by_window": _windows([(at, status, ms) for at, status, ms in alerts], 202),
            },
            "watchers": {
                **_latency([ms for *_, ms in reads]),
                "status_codes": _codes(status for _, _, status, _ in reads),
                "errors": sum(1 for _, _, status, _ in reads if status == 0 or status >= 400),
                "detail": _latency([ms for _, kind, _, ms in reads if kind == "detail"]),
                "timeline": _latency([ms for _, kind, _, ms in reads if kind == "timeline"]),
                "polls": {**self.polls, "done_share": round(self.polls["done"] / due, 3)}
                if due
                else self.polls,
                "by_window": _windows([(at, s, ms) for at, _, s, ms in reads], None),
            },
            "load_generator_cpu_s": self.cpu_s,
        }


def _latency(values: list[float]) -> dict:
    if not values:
        return {"requests": 0}
    return {
        "requests": len(values),
        "p50_ms": round(percentile(values, 0.50), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


def _codes(statuses) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in statuses:
        out[str(status)] = out.get(str(status), 0) + 1
    return dict(sorted(out.items()))


def _windows(rows: list[tuple[float, int, float]], expected: int | None) -> list[dict]:
    """p50/p99 and failures per WINDOW_S seconds of sending (a failure: no answer, a 4xx or
    5xx, or with `expected` any other status)."""
    out = []
    for start in range(0, int(max((at for at, *_ in rows), default=0)) + 1, WINDOW_S):
        inside = [(s, ms) for at, s, ms in rows if start <= at < start + WINDOW_S]
        if inside:
            failed = sum(1 for s, _ in inside if s == 0 or s >= 400 or (expected and s != expected))
            out.append({"from_s": start, **_latency([ms for _, ms in inside]), "failed": failed})
    return out


def warm_up(port: int, integration: tuple[str, str], token: str, watched: int) -> None:
    """A few reads and alert 404s before the clock, so every web thread has its database
    connection (as bench/alert_ingest.py warms up), not measured."""
    load = Load(SimpleNamespace(), port, integration, token, watched)
    unknown = "00000000-0000-4000-8000-000000000000"

    async def once():
        reads = [load._poll(0.0, None) for _ in range(8)]
        posts = []
        for _ in range(8):
            reader, writer = await load._connect()
            path = f"/integrations/{unknown}/alerts/"
            head = load._head("POST", path, {"Content-Length": "0"}, close=True)
            posts.append(_exchange(reader, writer, head))
        await asyncio.gather(*reads, *posts)

    for _ in range(2):
        asyncio.run(once())


# --- 6. one phase ----------------------------------------------------------------------------
def phase(args, name: str, redis: PrivateRedis, bad: bool) -> dict:
    """One run from a fresh database and an empty Redis: the baseline (bad=False) or the bad
    day. Returns its figures."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from incidents.models import Page

    print(f"\n== {name}: database, {args.deadlines} deadlines", flush=True)
    connection.close()
    recreate_database(args.database_url)
    ContentType.objects.clear_cache()  # ids of the database just dropped
    redis.restart_without_saving()  # empty, as a fresh Redis is
    started = time.monotonic()
    info: dict = {"data": timers.create_data(args.deadlines)}
    watched = timers.measured_deadlines().order_by("id")[args.deadlines // 2].incident_id
    if bad:
        token = create_people()["security"]
        integration = create_integrations()["distinct"]
    info["setup_seconds"] = round(time.monotonic() - started, 1)
    connection.close()

    logdir = Path(tempfile.mkdtemp(prefix="bench-badday-"))
    env = timers.worker_env(
        SimpleNamespace(database_url=args.database_url, broker_url=f"{redis.url}/0"), logdir
    )
    env["TENSAFE_CACHE_URL"] = f"{redis.url}/1"
    procs = timers.Processes(env, logdir)
    port = free_port()
    web = load = None
    events: dict = {}
    killed: dict[str, float] = {}
    try:
        web = start_processes(args, procs, env, port)
        if bad:
            warm_up(port, integration, token, watched)
            load = Load(args, port, integration, token, watched)
        time.sleep(1)  # the first beat tick and sweep go by before the clock starts
        info["load_average_1m_at_start"] = load_average()
        cpu_before = cpu_reading(procs, web)
        t0 = timers.schedule_due(args.deadlines, args.lead, args.seconds)
        connection.close()
        last_due = t0 + timedelta(seconds=args.seconds)
        if load is not None:
            load.start(time.monotonic() + (t0 - datetime.now(UTC)).total_seconds(), t0)
        print(
            f"{name}: due from {t0:%H:%M:%S} over {args.seconds:.0f} s"
            + (
                f"; {args.alerts_per_minute} alerts/min over {args.groups} groups, "
                f"{args.watchers} watchers; kill timers1 at {args.kill_at:.0f} s, "
                f"Redis restart at {args.redis_restart_at:.0f} s"
                if bad
                else " (timers only)"
            ),
            flush=True,
        )
        plan = (
            [
                (args.kill_at, "kill"),
                (args.kill_at + args.restart_after, "restart"),
                (args.redis_restart_at, "redis"),
            ]
            if bad
            else []
        )
        cutoff = last_due + timedelta(seconds=args.margin)
        checked = 0.0
        while (now := datetime.now(UTC)) < cutoff:
            while plan and now >= t0 + timedelta(seconds=plan[0][0]):
                fault(plan.pop(0)[1], procs, redis, events, killed)
            restarting = "timers_restarted_at" in events and "timers_ready_at" not in events
            if restarting and " ready." in procs.log("worker-timers1-restarted"):
                events["timers_ready_at"] = datetime.now(UTC)
            if now > last_due and time.monotonic() - checked > 1:
                checked = time.monotonic()
                if not any(timers.outstanding()):
                    break
            time.sleep(0.1)
        connection.close()
        info["load_average_1m_at_cutoff"] = load_average()
        at_cutoff = timers.figures(args.deadlines, t0, args.seconds)
        info["cpu_seconds"] = cpu_by_group(cpu_before, cpu_reading(procs, web), killed)
        drain_end = time.monotonic() + args.drain
        while time.monotonic() < drain_end and any(timers.outstanding()):
            time.sleep(1)
        if load is not None:
            load.join()
        info["drained_seconds"] = round(time.monotonic() - drain_end + args.drain, 1)
    finally:
        procs.stop()
        if web is not None:
            stop(web)
    end = datetime.now(UTC)
    final = timers.figures(args.deadlines, t0, args.seconds)
    info["deadlines"] = deadline_figures(at_cutoff, final)
    info["deadlines"]["pages_claimed_more_than_once"] = Page.objects.filter(
        deadline__in=timers.measured_deadlines(), attempts__gt=1
    ).count()
    info["sweeps"] = timers.sweep_stats(
        "".join(procs.log(n) for n in procs.procs if n.startswith("worker-timers"))
    )
    info["kill"] = kill_figures(args, t0, events)
    info["redis_restart"] = recovery_figures(args, t0, events, end)
    info["events"] = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in events.items()}
    if load is not None:
        info.update(load.figures())
        info["cpu_seconds"]["load generator"] = info.pop("load_generator_cpu_s")
        info["alerts"].update(counts(integration[0]))
    if args.keep_logs:
        info["logs"] = str(logdir)
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    connection.close()
    return info


def fault(what: str, procs: timers.Processes, redis: PrivateRedis, events: dict, killed: dict):
    """The bad day's faults: SIGKILL timers1's process group, start it again, restart Redis."""
    if what == "kill":
        proc = procs.procs["worker-timers1"][0]
        killed["worker-timers1"] = timers._cpu_of(lambda pgrp, _pid: pgrp == proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        events["timers_killed_at"] = datetime.now(UTC)
        proc.wait()
        print(f"  {events['timers_killed_at']:%H:%M:%S.%f} timers1 SIGKILLed", flush=True)
    elif what == "restart":
        procs.start("worker-timers1-restarted", timers_args(1))
        events["timers_restarted_at"] = datetime.now(UTC)
        print(f"  {events['timers_restarted_at']:%H:%M:%S.%f} timers1 started again", flush=True)
    elif what == "redis":
        from incidents.models import Page

        events["queued_before_redis_restart"] = redis.queued()
        events["pages_outstanding_at_redis_restart"] = Page.objects.filter(
            status__in=[Page.Status.PENDING, Page.Status.SENDING]
        ).count()
        events["redis_down_at"] = datetime.now(UTC)
        redis.restart_without_saving()
        events["redis_up_at"] = datetime.now(UTC)
        print(
            f"  {events['redis_down_at']:%H:%M:%S.%f} Redis restarted without saving "
            f"({(events['redis_up_at'] - events['redis_down_at']).total_seconds():.2f} s down; "
            f"held {events['queued_before_redis_restart']})",
            flush=True,
        )


# --- 7. figures ------------------------------------------------------------------------------
def deadline_figures(at_cutoff: dict, final: dict) -> dict:
    """As bench/timers.py judges them, and the pages still unsent when the run ended."""
    return {
        **timers.judged(at_cutoff, final),
        "pages_unsent_at_end": final["fired"] - final["pages_sent"],
    }


def kill_figures(args, t0: datetime, events: dict) -> dict:
    """From the kill until 5 s after the restarted worker was ready: the longest gap between
    consecutive fired_at values (the last firing before the kill included) and the lateness of
    the deadlines due in it. With no kill (the baseline) the same at the same times."""
    kill = events.get("timers_killed_at") or t0 + timedelta(seconds=args.kill_at)
    ready = events.get("timers_ready_at")
    end = (ready or kill + timedelta(seconds=args.restart_after + 5)) + timedelta(seconds=5)
    deadlines = timers.measured_deadlines()
    before = (
        deadlines.filter(fired_at__lt=kill)
        .order_by("-fired_at")
        .values_list("fired_at", flat=True)[:1]
    )
    fired = list(before) + list(
        deadlines.filter(fired_at__gte=kill, fired_at__lte=end)
        .order_by("fired_at")
        .values_list("fired_at", flat=True)
        .distinct()
    )
    gaps = [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(fired)]
    late = sorted(
        deadlines.filter(due_at__gte=kill, due_at__lte=end, fired_at__isnull=False).values_list(
            "lateness_ms", flat=True
        )
    )
    return {
        "killed": "timers_killed_at" in events,
        "window_s": round((end - kill).total_seconds(), 1),
        "restarted_worker_ready_after_start_s": round(
            (ready - events["timers_restarted_at"]).total_seconds(), 1
        )
        if ready
        else None,
        "longest_firing_gap_ms": round(max(gaps)) if gaps else None,
        "deadlines_due_in_window": len(late),
        "lateness_in_window_ms": {
            "p99": timers.percentile(late, 99),
            "max": late[-1] if late else None,
        },
    }


def recovery_figures(args, t0: datetime, events: dict, end: datetime) -> dict:
    """Seconds from the Redis shutdown until no page is pending past its deadline + the grace
    period: a page is overdue from max(due, created) + grace until it is sent (a deadline still
    pending counts as its page); the overdue time is merged into runs, and the one that ends
    after the shutdown and begins by shutdown + 2 x grace (what the restart could have
    stranded) gives the end; 0 when there is none. With no restart (the baseline) the same
    measure at the same time: what the load alone leaves overdue then."""
    from incidents.models import Deadline, Page

    restart = events.get("redis_down_at") or t0 + timedelta(seconds=args.redis_restart_at)
    grace = timedelta(seconds=PAGE_GRACE_S)
    spans = [
        (max(due, created) + grace, sent or end)
        for due, created, sent in Page.objects.exclude(status=Page.Status.CANCELLED)
        .filter(deadline__isnull=False)
        .values_list("deadline__due_at", "deadline__created_at", "sent_at")
    ]
    spans += [
        (max(due, created) + grace, end)
        for due, created in Deadline.objects.filter(status=Deadline.Status.PENDING).values_list(
            "due_at", "created_at"
        )
    ]
    runs: list[list[datetime]] = []  # [start, end] of overdue time, merged
    for s, e in sorted(x for x in spans if x[0] < x[1]):
        if runs and s <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], e)
        else:
            runs.append([s, e])
    hit = next((r for r in runs if r[1] > restart and r[0] <= restart + 2 * grace), None)
    return {
        "restarted": "redis_down_at" in events,
        "overdue_at_restart_plus_grace": sum(1 for s, e in spans if s <= restart + grace < e),
        "recovered_after_s": round((hit[1] - restart).total_seconds(), 1) if hit else 0.0,
        "recovered_by_end": hit is None or hit[1] < end,
        "queued_messages_lost": sum(
            n for k, n in events.get("queued_before_redis_restart", {}).items() if k != "unacked"
        ),
        "unacked_at_restart": events.get("queued_before_redis_restart", {}).get("unacked", 0),
        "pages_outstanding_at_restart": events.get("pages_outstanding_at_redis_restart"),
    }


def verdicts(info: dict, bad: bool) -> dict[str, bool]:
    d = info["deadlines"]
    out = {
        "lost_doubled": d["lost"] == 0
        and d["duplicated"] == 0
        and d["duplicated_after_drain"] == 0,
        "lateness": (d["lateness_ms"]["p99"] or 0) <= TARGETS["lateness_p99_ms"] and d["fired"] > 0,
        "page_sent": (d["due_to_page_sent_ms"]["p99"] or 0) <= TARGETS["page_p99_ms"]
        and d["pages_unsent_at_end"] == 0
        and d["pages_sent"] > 0,
    }
    if bad:
        a, w = info["alerts"], info["watchers"]
        out["alerts"] = (
            a.get("p99_ms", 1e9) <= TARGETS["alert_p99_ms"]
            and a["status_codes"] == {"202": a["requests"]}
            and a["groups"] == a["incidents"] == info["groups_planned"]
        )
        out["watchers"] = w.get("p99_ms", 1e9) <= TARGETS["watch_p99_ms"] and w["errors"] == 0
        gap = info["kill"]["longest_firing_gap_ms"]
        out["kill"] = gap is not None and gap <= TARGETS["kill_gap_ms"]
        out["recovery"] = (
            info["redis_restart"]["recovered_by_end"]
            and info["redis_restart"]["recovered_after_s"] <= TARGETS["recovery_s"]
        )
    return out


# --- the report ------------------------------------------------------------------------------
def _ms(value) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"


def _mark(text: str, ok: bool | None) -> str:
    return text if ok in (True, None) else f"**{text}**"


def table(results: dict) -> str:
    """Markdown: each figure against its target, baseline and bad day side by side (missed
    targets in bold)."""
    rows = []

    def cell(name: str, render, verdict: str | None):
        info = results.get(name)
        if info is None:
            return "—"
        text = render(info)
        return _mark(text, info["verdicts"].get(verdict) if verdict else None) if text else "—"

    def row(figure: str, target: str, render, verdict: str | None = None, baseline=True):
        base = cell("baseline", render, verdict) if baseline else "—"
        rows.append(f"| {figure} | {target} | {base} | {cell('bad_day', render, verdict)} |")

    def lost(i):
        d = i["deadlines"]
        return f"{d['lost']} / {max(d['duplicated'], d['duplicated_after_drain'])}"

    def late(i):
        x = i["deadlines"]["lateness_ms"]
        return f"{_ms(x['p50'])} / {_ms(x['p99'])} / {_ms(x['max'])}"

    def sent(i):
        d = i["deadlines"]
        x = d["due_to_page_sent_ms"]
        unsent = f" ({d['pages_unsent_at_end']} unsent)" if d["pages_unsent_at_end"] else ""
        return f"{_ms(x['p50'])} / {_ms(x['p99'])}{unsent}"

    def alerts(i):
        a = i.get("alerts")
        if not a or not a["requests"]:
            return ""
        codes = ", ".join(f"{k}: {v}" for k, v in a["status_codes"].items())
        return (
            f"{_ms(a['p50_ms'])} / {_ms(a['p99_ms'])} ({codes}; {a['groups']} groups, "
            f"{a['incidents']} incidents)"
        )

    def watch(i):
        w = i.get("watchers")
        if not w or not w["requests"]:
            return ""
        share = w["polls"].get("done_share", 0) * 100
        n304 = w["status_codes"].get("304", 0)
        return (
            f"{_ms(w['p50_ms'])} / {_ms(w['p99_ms'])} ({w['errors']} errors, {share:.0f} % of "
            f"polls done, {n304} answered 304)"
        )

    def gap(i):
        k = i["kill"]
        text = (
            f"{_ms(k['longest_firing_gap_ms'])} (lateness in window max "
            f"{_ms(k['lateness_in_window_ms']['max'])})"
        )
        return text if k["killed"] else f"({text}, no kill)"

    def recovery(i):
        r = i["redis_restart"]
        text = f"{r['recovered_after_s']:.0f} s" + ("" if r["recovered_by_end"] else "+ (never)")
        if not r["restarted"]:
            return f"({text}, no restart)"
        return f"{text} ({r['queued_messages_lost']} messages lost)"

    def cpu(i):
        c = i["cpu_seconds"]
        order = ["web", "worker", "timers", "beat", "load generator", "postgresql (whole server)"]
        return " / ".join(f"{c[k]:.0f}" if c.get(k) is not None else "—" for k in order)

    rows.append("| figure | target | timers only | bad day |")
    rows.append("|---|---|---|---|")
    row("deadlines lost / doubled", "0 / 0", lost, "lost_doubled")
    row("timer lateness p50 / p99 / max", "p99 ≤ 1 s", late, "lateness")
    row("deadline → page sent p50 / p99", "p99 ≤ 5 s", sent, "page_sent")
    row("alert replies p50 / p99", "≤ 500 ms, all 202", alerts, "alerts")
    row("watcher reads p50 / p99", "≤ 200 ms, 0 errors", watch, "watchers")
    row("longest firing gap, timers kill", "≤ 1 s", gap, "kill")
    row("recovery after Redis restart", "≤ 15 s", recovery, "recovery")
    row("CPU s: web / worker / timers / beat / load gen / PostgreSQL", "", cpu)
    return "\n".join(rows)


def main() -> int:
    args = parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("needs redis-server on PATH (Debian: apt-get install -y redis-server)")
    report: dict = {
        "command": " ".join(sys.argv),
        "commit": subprocess.run(  # noqa: S603 - git, fixed arguments
            [shutil.which("git") or "git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "machine_at_start": timers.machine(),
        "settings": {
            k: getattr(args, k)
            for k in (
                "deadlines",
                "minutes",
                "alerts_per_minute",
                "groups",
                "watchers",
                "poll_every",
                "kill_at",
                "restart_after",
                "redis_restart_at",
                "timers_workers",
                "web_workers",
                "web_threads",
                "scale",
            )
        },
    }
    started = time.monotonic()
    redis = PrivateRedis(Path(tempfile.mkdtemp(prefix="bench-badday-redis-")))
    redis.start()
    results: dict = {}
    try:
        timers.django_setup(args.database_url, f"{redis.url}/0")
        for name, bad in (("baseline", False), ("bad_day", True)):
            if name == "baseline" and args.skip_baseline:
                continue
            info = phase(args, name, redis, bad)
            info["groups_planned"] = args.groups
            info["verdicts"] = verdicts(info, bad)
            results[name] = info
    finally:
        redis.stop()
        shutil.rmtree(redis.folder, ignore_errors=True)
    report.update(results)
    report["machine_at_end"] = timers.machine()
    report["wall_seconds"] = round(time.monotonic() - started)
    ok = all(all(r["verdicts"].values()) for r in results.values())
    report["targets_met"] = ok
    print("\n" + table(results))
    for name, info in results.items():
        print(
            f"\n{name}: load average {info['load_average_1m_at_start']} at start, "
            f"{info['load_average_1m_at_cutoff']} at the cut-off; sweeps {info['sweeps']}; "
            f"kill {info['kill']}; Redis restart {info['redis_restart']}"
        )
    print(
        f"\n{report['machine_at_start']['date']}, {report['wall_seconds']} s in all; "
        f"targets {'MET' if ok else 'MISSED: '}"
        + ", ".join(
            f"{n}: {k}" for n, r in results.items() for k, v in r["verdicts"].items() if not v
        )
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
