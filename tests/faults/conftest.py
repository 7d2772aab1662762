"""Fault tests: the timer engine and the senders run for real (Celery worker subprocesses on
Redis, the test's PostgreSQL database), then broken on purpose (a worker SIGKILLed mid-sweep,
Redis restarted without persistence, two sweepers racing, the workers' PostgreSQL connections
terminated mid-sweep, webhook targets answering 500 / 429 or timing out) and checked for lost
or doubled work.

The workers' broker is a `redis-server` of the fault tests' own (`fault_redis`, on a free port,
one per test process), so restarting it disturbs no other test, no other pytest-xdist worker and
no `make run`; the suite's other Redis users keep the one CELERY_BROKER_URL names. Every fixture
here cleans up in a finally: worker process groups are killed, the Redis database is flushed,
Redis is started again if a test left it down, and background threads (beat stand-ins, the
connection terminator, local HTTP targets) are stopped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from celery import Celery
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Count
from django.utils import timezone

from incidents.escalation import plan_deadlines
from incidents.models import (
    ContactMethod,
    Deadline,
    Incident,
    Page,
    TimelineEvent,
    User,
)
from incidents.selectors import policy_for, policy_rules_enabled
from incidents.states import Rank, Status
from tests.databases import database_url
from tests.faults.counting import KeyCounts

ROOT = Path(__file__).resolve().parents[2]
# How the workers' PostgreSQL sessions are named (libpq's PGAPPNAME), so a test can find, and
# terminate, exactly theirs.
WORKER_APPLICATION_NAME = "tensafe-faults-worker"
FIRED_KINDS = ["escalated", "notified"]


# --- the fault tests' Redis ----------------------------------------------------------------------
def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def rows_queued(queue, names: tuple[str, ...] = ("pages", "celery")) -> int:
    """Outbox rows whose hand-off waits in the Redis lists `names` (the queues the outbox
    hands over to: pages to `pages`, the other kinds to `celery`): a message of
    `outbox_deliver_task` hands over one, one of `outbox_deliver_many_task` several
    (Celery's message protocol 2: a JSON envelope whose base64 body is [args, kwargs, embed])."""
    rows = 0
    for raw in (raw for name in names for raw in queue.lrange(name, 0, -1)):
        message = json.loads(raw)
        task = message["headers"].get("task", "")
        args = json.loads(base64.b64decode(message["body"]))[0]
        if task == "incidents.tasks.outbox_deliver_many_task":
            rows += len(args[1])
        elif task == "incidents.tasks.outbox_deliver_task":
            rows += 1
    return rows


# --- data ----------------------------------------------------------------------------------------
def people(*, webhook_base: str | None = None) -> dict[str, User]:
    """Who the P1 deadlines page: an Engineering Manager (backup on call falls back to them, and
    they are the IC's manager when no IC is assigned), VP Engineering, CTO and CEO. Each has one
    contact method: email (Django's locmem backend in the worker) or a webhook to the test's
    own HTTP server."""
    found = {}
    for rank in (Rank.ENGINEERING_MANAGER, Rank.VP_ENGINEERING, Rank.CTO, Rank.CEO):
        user = User.objects.create(
            username=f"fault-{rank}", email=f"{rank}@faults.invalid", rank=rank
        )
        if webhook_base:
            ContactMethod.objects.create(
                user=user, kind="webhook", target=f"{webhook_base}/{rank}", secret="s3cret"
            )
        else:
            ContactMethod.objects.create(
                user=user, kind="email", target=f"{rank}-pager@faults.invalid"
            )
        found[rank] = user
    return found


def open_p1_incidents_all_due(count: int, *, actor: User) -> list[Incident]:
    """`count` open, unacknowledged P1 incidents detected three hours ago, with their deadlines
    planned by the planner `deadlines_replan` uses (`plan_deadlines`), so every one is due now:
    the declaration notice, both "not acknowledged" escalations, both "open longer than"
    escalations and the over-target one (6 per incident). Rows are bulk-inserted: declaring
    thousands through the service would take most of a fault test's time budget, and the
    deadlines are the ones declaring would have planned."""
    now = timezone.now()
    detected = now - timedelta(hours=3)
    tag = uuid.uuid4().hex[:8]
    with transaction.atomic():
        incidents = Incident.objects.bulk_create(
            Incident(
                title=f"Fault test incident {i}",
                severity="P1",
                status=Status.INVESTIGATING,
                detection_source="monitoring",
                channel_name=f"#inc-fault-{tag}-{i}",
                bridge_url="https://meet.example.invalid/fault",
                detected_at=detected,
                declared_at=detected,
                declared_by=actor,
            )
            for i in range(count)
        )
        policy = policy_for("P1")  # seeds the procedures' defaults on a flushed database
        rules = policy_rules_enabled()
        Deadline.objects.bulk_create(
            Deadline(
                incident=incident,
                kind=planned.kind,
                key=key,
                due_at=planned.due_at,
                data=planned.data,
            )
            for incident in incidents
            for key, planned in plan_deadlines(incident, rules, policy, now).items()
        )
    return incidents


def firing_report() -> dict:
    """What the database says about firing: counts, and every way "exactly once" can fail."""
    by_status = Counter(dict(Deadline.objects.values_list("status").annotate(n=Count("id"))))
    events = TimelineEvent.objects.filter(kind__in=FIRED_KINDS)
    per_deadline = Counter(
        {
            row["data__deadline"]: row["n"]
            for row in events.values("data__deadline").annotate(n=Count("id"))
        }
    )
    fired_ids = set(
        Deadline.objects.filter(status=Deadline.Status.FIRED).values_list("pk", flat=True)
    )
    paged = {pid for data in events.values_list("data", flat=True) for pid in data.get("pages", [])}
    page_ids = set(Page.objects.values_list("pk", flat=True))
    return {
        "pending": by_status["pending"],
        "fired": by_status["fired"],
        "cancelled": by_status["cancelled"],
        "events": events.count(),
        "deadlines_with_two_events": sorted(d for d, n in per_deadline.items() if n > 1),
        "fired_without_event": sorted(fired_ids - set(per_deadline)),
        "events_for_unfired": sorted(set(per_deadline) - fired_ids),
        "pages_not_on_timeline": sorted(page_ids - paged),
        "timeline_pages_missing": sorted(paged - page_ids),
        "pages_of_unfired_deadlines": Page.objects.exclude(
            deadline__status=Deadline.Status.FIRED
        ).count(),
    }


def by_status(model) -> dict:
    """{status: rows} of a table of deliveries (pages, webhook deliveries, team posts)."""
    return dict(model.objects.values_list("status").annotate(n=Count("id")))


def assert_each_fired_once(report: dict, total: int) -> None:
    assert report["pending"] == 0, report
    assert report["fired"] == total, report
    assert report["events"] == report["fired"], report
    for problem in (
        "deadlines_with_two_events",
        "fired_without_event",
        "events_for_unfired",
        "pages_not_on_timeline",
        "timeline_pages_missing",
        "pages_of_unfired_deadlines",
    ):
        assert not report[problem], (problem, report)


def wait_for(predicate, timeout: float, interval: float = 0.05, what=""):
    """Poll `predicate` until it is true; `what` (a string, or a callable for details only known
    at the time, such as a worker's log) explains a timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what() if callable(what) else what}"
    )


# --- processes -----------------------------------------------------------------------------------
class Worker:
    """A `celery -A tensafe_ir worker` subprocess in its own process group."""

    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc, self.log_path = proc, log

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill(self, sig=signal.SIGKILL) -> None:
        """Signal the whole group (main process and pool children)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            self.proc.wait(10)
            # the children die with the group; wait until none of it is left
            wait_for(lambda: not _group_alive(self.proc.pid), 10, what="worker group to die")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM to the main process, which stops its pool), then SIGKILL
        whatever is left of the group."""
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(15)
        self.kill(signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Any process of the group still running (zombies waiting for a reaper don't count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@pytest.fixture
def celery_worker_process(tmp_path):
    """start(broker_url, queues=..., concurrency=..., extra_env=...) -> a ready Worker; every
    worker started is killed (process group, SIGKILL after a warm-shutdown try) at teardown."""
    started: list[Worker] = []

    def start(
        broker_url: str, *, queues="pages,celery,timers", concurrency=2, extra_env=None
    ) -> Worker:
        name = f"faults-{uuid.uuid4().hex[:6]}"
        log = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "TENSAFE_VAR_DIR": str(tmp_path / "var"),
            "TENSAFE_LOG_LEVEL": "INFO",
            # The tests count the tasks a worker ran from its "succeeded" lines.
            "TENSAFE_TASK_LOG_LEVEL": "INFO",
            "PGAPPNAME": WORKER_APPLICATION_NAME,
            "PYTHONPATH": str(ROOT),
            # Celery runs Django's system checks as each worker starts (about a second of CPU);
            # the suite runs them once (tests/security/test_deploy_checks.py), not per worker.
            "CELERY_SKIP_CHECKS": "1",
            **(extra_env or {}),
        }
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tensafe_ir",
                    "worker",
                    "-l",
                    "info",
                    "-Q",
                    queues,
                    "-c",
                    str(concurrency),
                    "-n",
                    f"{name}@%h",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so killpg takes the children
            )
        worker = Worker(proc, log)
        started.append(worker)
        try:
            wait_for(lambda: " ready." in worker.log() or proc.poll() is not None, 45, 0.1)
        except AssertionError:
            raise AssertionError(f"worker not ready:\n{worker.tail()}") from None
        assert proc.poll() is None, f"worker exited with {proc.returncode}:\n{worker.tail()}"
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def dedicated_broker(fault_redis):
    """broker() -> URL of the fault tests' own Redis server (`fault_redis`), flushed before and
    after the test."""
    used: list[str] = []

    def broker() -> str:
        fault_redis.start()  # a test before may have left it down
        redis_client(fault_redis.url).flushdb()
        used.append(fault_redis.url)
        return fault_redis.url

    try:
        yield broker
    finally:
        for url in used:
            # Redis down is the redis_running fixture's business
            with contextlib.suppress(Exception):
                redis_client(url).flushdb()


class SweepSender:
    """Sends one of beat's tasks (`entry` of CELERY_BEAT_SCHEDULE; the timer sweep unless told)
    the way beat does (same queue and expiry) to the test's own broker; a send that fails while
    Redis is down is counted, not raised."""

    def __init__(self, broker_url: str, entry: str = "sweep-timers"):
        # Celery lets CELERY_BROKER_URL in the environment win over any broker given to the
        # app, so the connection is named explicitly on every send.
        self.app = Celery("faults-sender", set_as_current=False)
        self.url = broker_url
        self.task = settings.CELERY_BEAT_SCHEDULE[entry]["task"]
        self.options = settings.CELERY_BEAT_SCHEDULE[entry]["options"]
        self.sent = self.failed = 0

    def send(self) -> bool:
        try:
            with self.app.connection_for_write(self.url) as conn:
                self.app.send_task(
                    self.task,
                    connection=conn,
                    retry=True,
                    retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2},
                    **self.options,
                )
        except Exception:  # broker down: beat would also just try again next tick
            self.failed += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self.app.close()


@pytest.fixture
def sweeps():
    """sweeps(broker_url, every=1.0, entry="sweep-timers") -> a started beat stand-in that sends
    beat's `entry` every `every` seconds from a thread until the test ends."""
    threads: list[tuple[threading.Thread, threading.Event, SweepSender]] = []

    def start(broker_url: str, every: float = 1.0, entry: str = "sweep-timers") -> SweepSender:
        sender = SweepSender(broker_url, entry)
        stop = threading.Event()

        def tick():
            while not stop.is_set():
                sender.send()
                stop.wait(every)

        thread = threading.Thread(target=tick, daemon=True, name="beat-stand-in")
        thread.start()
        threads.append((thread, stop, sender))
        return sender

    try:
        yield start
    finally:
        for thread, stop, sender in threads:
            stop.set()
            thread.join(10)
            sender.close()


# --- Redis itself --------------------------------------------------------------------------------
def redis_ping(url: str) -> bool:
    try:
        return bool(redis_client(url).ping())
    except Exception:  # any failure means "not answering"
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A `redis-server` of the fault tests' own, on a free port of 127.0.0.1, keeping nothing on
    disk (as the CI machine's): a test restarts it, or its workers fill it, without touching the
    Redis that other tests, other pytest-xdist workers, `make run` or a benchmark use."""

    SERVERS: dict[int, PrivateRedis] = {}

    def __init__(self, folder: Path):
        self.folder, self.port = folder, _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        PrivateRedis.SERVERS[self.port] = self

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None and redis_ping(self.url):
            return
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: redis_ping(self.url), 30, 0.05, f"Redis on port {self.port} to answer")

    def shutdown_without_saving(self) -> None:
        """What an operator's `redis-cli shutdown nosave` does: every message held is gone."""
        with contextlib.suppress(Exception):
            redis_client(self.url).shutdown(nosave=True)
        if self.proc is not None:
            self.proc.wait(15)
        wait_for(lambda: not redis_ping(self.url), 15, 0.05, "Redis to go down")


@pytest.fixture(scope="session")
def fault_redis(tmp_path_factory):
    """The fault tests' own Redis server, started once per test process (see PrivateRedis)."""
    if shutil.which("redis-server") is None:
        message = "needs redis-server on PATH (Debian: redis-server)"
        if os.environ.get("TENSAFE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


def redis_restart_without_persistence(url: str) -> None:
    """Shut the fault tests' Redis down without saving, start it again on the same port; returns
    once PING works. Everything it held (every queued message) is gone."""
    server = PrivateRedis.SERVERS[urlsplit(url).port]
    server.shutdown_without_saving()
    server.start()


@pytest.fixture
def redis_running(fault_redis):
    """Whatever a test does to Redis, it is running again when the test ends."""
    try:
        yield fault_redis.url
    finally:
        fault_redis.start()


# --- a webhook receiver --------------------------------------------------------------------------
class Receiver(KeyCounts):
    """A local HTTP server standing in for the pager or a webhook subscriber: counts each
    Idempotency-Key it receives, and keeps them in the order they arrived (`arrivals`)."""

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.arrivals: list[str] = []
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # the http.server API names it
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hold()
                with receiver.lock:
                    receiver.keys[self.headers.get("Idempotency-Key", "")] += 1
                    receiver.arrivals.append(self.headers.get("Idempotency-Key", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def webhook_receiver():
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


# --- PostgreSQL connections terminated -----------------------------------------------------------
class Terminator:
    """From a thread on a connection of its own, terminates the PostgreSQL sessions of the
    workers (WORKER_APPLICATION_NAME, in the test's database only: nobody else's) while
    `armed`: every one of them every `every` seconds and, with `busy_poll`, also every
    `busy_poll` seconds those inside a statement or a transaction. Workers keep their sessions
    between tasks (tensafe_ir/celery.py) and a send's statements are short, so terminating on a
    clock alone seldom cuts a sender off mid-work. Counts the sessions terminated, and how many
    were busy."""

    def __init__(self, every: float, busy_poll: float | None = None):
        self.every, self.busy_poll = every, busy_poll
        self.armed = threading.Event()
        self.stop = threading.Event()
        self.terminated = self.busy = self.rounds = 0
        self.errors: list[BaseException] = []
        db = connections["default"].settings_dict  # the test database's, by now
        self.dbname = db["NAME"]
        self.conninfo = {
            "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "dbname": self.dbname,
            "autocommit": True,
            "application_name": "tensafe-faults-terminator",
        }
        self.thread = threading.Thread(target=self._run, daemon=True, name="pg-terminator")

    def _run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(**self.conninfo) as conn:
                last_round = 0.0
                while not self.stop.is_set():
                    every_session = time.monotonic() - last_round >= self.every
                    if self.armed.is_set() and (every_session or self.busy_poll):
                        self._round(conn, every_session=every_session)
                        if every_session:
                            last_round = time.monotonic()
                    self.stop.wait(min(self.every, self.busy_poll or self.every))
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def _round(self, conn, *, every_session: bool) -> None:
        rows = conn.execute(
            """
            SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()
               AND (%s OR state IN ('active', 'idle in transaction'))
            """,
            [self.dbname, WORKER_APPLICATION_NAME, every_session],
        ).fetchall()
        self.rounds += every_session
        self.terminated += sum(1 for _, done in rows if done)
        self.busy += sum(1 for state, done in rows if done and state != "idle")


@pytest.fixture
def pg_terminator():
    """terminator(every, busy_poll=None) -> a started Terminator (disarmed: call
    .armed.set()); stopped at teardown."""
    started: list[Terminator] = []

    def start(every: float, busy_poll: float | None = None) -> Terminator:
        terminator = Terminator(every, busy_poll)
        terminator.thread.start()
        started.append(terminator)
        return terminator

    try:
        yield start
    finally:
        for terminator in started:
            terminator.stop.set()
            terminator.thread.join(10)


# --- webhook targets that fail, then recover -----------------------------------------------------
@dataclass
class Hit:
    at: float
    path: str
    key: str
    body: bytes
    answer: str  # "200", "500", "429", "slow" (body read, answered after the client gave up),
    #              "hang" (never answered)


class FlakyTarget:
    """An HTTP server on 127.0.0.1 whose path says how it fails the first `failures` requests
    of each delivery (by its Idempotency-Key), answering 200 afterwards:

    - /500/...  answers 500
    - /429/...  answers 429 with Retry-After: `retry_after`
    - /slow/... reads the body, then answers only after `slow` seconds (past the client's
      timeout): the receiver got the delivery, the sender saw a timeout
    - /hang/... accepts the request and never answers (the socket is closed once the client
      has given up)

    Every request is kept as a Hit. `processed(key)` counts the requests of a delivery whose
    body a receiver would have acted on (answered 200, or read before a late answer)."""

    def __init__(self, *, failures=1, retry_after=4, slow=2.0):
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.failures, self.retry_after, self.slow = failures, retry_after, slow
        self.closing = threading.Event()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # the http.server API names it
                key = self.headers.get("Idempotency-Key", "")
                mode = self.path.split("/")[1]
                with target.lock:
                    target.seen[key] += 1
                    failing = target.seen[key] <= target.failures and mode != "ok"
                answer = mode if failing else "200"
                body = b"" if answer == "hang" else self._body()
                with target.lock:
                    target.hits.append(Hit(time.monotonic(), self.path, key, body, answer))
                if answer == "hang":
                    self._hang()
                    return
                if answer == "slow":
                    target.closing.wait(target.slow)
                code = {"500": 500, "429": 429}.get(answer, 200)
                with contextlib.suppress(OSError):  # the client may have gone (slow)
                    self.send_response(code)
                    if code == 429:
                        self.send_header("Retry-After", str(target.retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _hang(self) -> None:
                """Hold the connection without a word until the client closes it."""
                self.connection.settimeout(0.2)
                while not target.closing.is_set():
                    try:
                        if not self.connection.recv(65536):
                            return  # the client gave up
                    except TimeoutError:
                        continue
                    except OSError:
                        return

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def processed(self) -> Counter[str]:
        with self.lock:
            return Counter(h.key for h in self.hits if h.answer in ("200", "slow"))

    def attempts(self, key: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.key == key]


@pytest.fixture
def flaky_target():
    """flaky_target(**options) -> a started FlakyTarget; shut down at teardown."""
    started: list[FlakyTarget] = []

    def start(**options) -> FlakyTarget:
        target = FlakyTarget(**options)
        target.thread.start()
        started.append(target)
        return target

    try:
        yield start
    finally:
        for target in started:
            target.closing.set()
            target.server.shutdown()
            target.server.server_close()
