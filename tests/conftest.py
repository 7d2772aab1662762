import contextlib
import ipaddress
import os
import socket
from collections import Counter
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_migrate
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from xdist.scheduler import LoadScheduling

from incidents.models import ApiToken
from incidents.services import api_token_create
from incidents.services.policy import policy_seed_defaults
from tensafe_ir.celery import app as celery_app
from tests import databases
from tests.factories import UserFactory
from tests.http_target import HttpTarget
from tests.live_server import _live_server_for_the_database  # noqa: F401  (a session fixture)
from tests.smtp_server import SmtpServer

# Tests never hand messages to the embedded broker under var/ (a `make run` worker would take
# them): with no real broker configured, messages stay in this process's memory.
if settings.CELERY_BROKER_URL.startswith("filesystem://"):
    celery_app.conf.broker_url = "memory://"
    celery_app.conf.broker_transport_options = {}

# CI (.ci/run) sets this: there a test that needs PostgreSQL or Redis must run, not skip.
REQUIRE_SERVICES = os.environ.get("TENSAFE_REQUIRE_SERVICES") == "1"


def _uses_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


# The tests that take longest run first (`make test` spreads the suite over pytest-xdist
# workers, which then share out the rest as they finish): started last, one of them alone would
# keep a worker busy after every other had run out of work. This runs after pytest-django's
# own reordering (tests in a transaction, then those that commit, then those without a
# database), which xdist does not keep anyway: a worker may run a test in a transaction after
# one that committed. That is safe because of `_migrated_rows_again` below.
LONGEST_FIRST = ("tests/faults/", "tests/browser/", "tests/fuzz/")
# Of those, the fault and browser tests mostly wait (on Celery workers, a restarted Redis,
# Chromium): four of them at once left the two cores half idle for a minute and a half. No
# more than this many run at once; the other workers go on to the fuzzer meanwhile.
WAITING = LONGEST_FIRST[:2]
WAITING_AT_ONCE = 2
# The fuzzer's operations share a module fixture (seeded data in an open transaction), so a
# worker runs them one after another: nothing else in between.
FUZZ = LONGEST_FIRST[2]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        starts = (n for n, start in enumerate(LONGEST_FIRST) if item.nodeid.startswith(start))
        return next(starts, len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the order within each group is kept


class SpreadWaiting(LoadScheduling):
    """xdist's load scheduling, with the waiting tests held to WAITING_AT_ONCE workers."""

    def _send_tests(self, node, num) -> None:
        for _ in range(num):
            pick = self._next_test(node)
            if pick is None:
                return
            self.pending.remove(pick)
            self.node2pending[node].append(pick)
            node.send_runtest_some([pick])

    def _next_test(self, node) -> int | None:
        """The first pending test this worker may take: a waiting test only while fewer than
        WAITING_AT_ONCE other workers hold one. A worker holding fewer than two tests takes the
        first whatever it is: xdist's worker runs a test only once it holds the next one (or is
        told to stop), so one left holding a single test would wait for ever. (The workers that
        take the waiting tests keep taking them while any is left, and the fuzzer's come before
        the rest, so a worker's fuzzer tests still run one after another:
        tests/test_scheduling.py.)"""

        def waiting(index) -> bool:
            return self.collection[index].startswith(WAITING)

        others = sum(
            any(waiting(index) for index in pending)
            for other, pending in self.node2pending.items()
            if other is not node
        )
        for index in self.pending:
            if not waiting(index) or others < WAITING_AT_ONCE:
                return index
        if self.pending and len(self.node2pending[node]) < 2:
            return self.pending[0]
        return None


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown when it is not loaded
def pytest_xdist_make_scheduler(config, log):
    return SpreadWaiting(config, log) if config.getoption("dist") == "load" else None


def _migrated_rows_again(sender, **kwargs):
    """After a test that commits (transaction=True, live_server), pytest-django empties every
    table and sends post_migrate, as `manage.py flush` does: the groups come back
    (incidents/groups.py), but not the rows data migrations wrote once, the teams and the
    services catalog (incidents 0002) with their escalation ranks (0011). They are written
    again here, by the migrations' own functions, with the policy's defaults (as
    `django_db_setup` below writes them), so the next test finds the database as it was set
    up, whichever test ran before it. `migrate` sends post_migrate too (with its `plan`),
    possibly to an older schema (tests/test_migrations.py): that one is left alone."""
    if "plan" in kwargs:
        return
    catalog = import_module("incidents.migrations.0002_catalog_and_append_only_timeline")
    escalations = import_module("incidents.migrations.0011_team_escalation_rank")
    catalog.seed_catalog(django_apps, None)
    escalations.seed_team_escalations(django_apps, None)
    policy_seed_defaults()


post_migrate.connect(
    _migrated_rows_again,
    sender=django_apps.get_app_config("incidents"),
    dispatch_uid="tests-migrated-rows-again",
)


if databases.uses_postgres():
    from django.db.backends.postgresql.operations import DatabaseOperations

    DatabaseOperations.sql_flush = databases.flush_by_delete(DatabaseOperations.sql_flush)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as a running platform has it: the policy's defaults written (the first
    read writes them, incidents.selectors), once. Written inside every test instead, they were
    rolled back with it and written again by the next: about a second in forty."""
    with django_db_blocker.unblock():
        policy_seed_defaults()


# --- the schema fuzzer over pytest-xdist processes ----------------------------------------------
# tests/fuzz/test_schema_fuzz.py checks that each operation got its requests, but under xdist
# each process sees only the operations it ran. The controller adds up what every process
# fuzzed (tests/fuzz/conftest.py hands it over) and fails the run when an operation that was
# collected was not fuzzed, or got fewer requests (a scheduler that drops tests would pass).
FUZZED_OPERATION = "tests/fuzz/test_schema_fuzz.py::test_operation"
_fuzzing = {"collected": 0, "sent": Counter(), "examples": 0}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    collected = sum(1 for nodeid in ids if nodeid.startswith(FUZZED_OPERATION))
    _fuzzing["collected"] = max(_fuzzing["collected"], collected)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    output = getattr(node, "workeroutput", {})
    _fuzzing["sent"].update(output.get("fuzz_sent", {}))
    _fuzzing["examples"] = max(_fuzzing["examples"], output.get("fuzz_examples", 0))


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workeroutput") or not _fuzzing["collected"]:
        return  # a worker, or a run without the fuzzer's operations
    sent, least = _fuzzing["sent"], _fuzzing["examples"]
    short = {label: n for label, n in sent.items() if n < least}
    if len(sent) < _fuzzing["collected"] or short:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_sep("=", "schema fuzzing", red=True)
        reporter.write_line(
            f"schema fuzzing: {len(sent)} of {_fuzzing['collected']} operations fuzzed in all "
            f"processes; fewer than {least} requests: {short}",
            red=True,
        )


def pytest_runtest_setup(item):
    for marker, available, what in (
        ("postgres", databases.uses_postgres, "DATABASE_URL=postgres://..."),
        ("redis", _uses_redis, "CELERY_BROKER_URL=redis://..."),
    ):
        if item.get_closest_marker(marker) and not available():
            message = f"needs {marker}: set {what} (make test does in CI)"
            if REQUIRE_SERVICES:
                pytest.fail(message)
            pytest.skip(message)


@contextlib.contextmanager
def kept_for_module(django_db_blocker):
    """For a module-scoped fixture whose rows its tests only read (e.g. sixty incidents to
    page through): the rows are written once, in a transaction opened here, inside which every
    test of the module then runs in a savepoint of its own (pytest-django), and which is rolled
    back when the module is done. Building them per test cost seconds each."""
    with (
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    """Rate-limit counters (incidents/ratelimit.py) are rows of the test's database, whatever
    TENSAFE_CACHE_URL says (a shared Redis is never flushed by tests): every test starts with
    none. Tests of the Redis counters configure their own (tests/security/conftest.py)."""
    settings.CACHES = {
        name: cache for name, cache in settings.CACHES.items() if name != "ratelimit"
    }


@pytest.fixture(autouse=True)
def _fresh_default_cache(settings):
    """Every test starts with nothing cached (incident list pages, the status page): on SQLite
    a rolled-back test's ids come again in the next, and with them the cache keys. The list's
    version is read on every request: inside a test's transaction nothing commits, so the
    remembered version would never be forgotten (tests/api/test_list_cache.py covers that)."""
    from incidents.api import list_cache

    settings.TENSAFE_INCIDENT_LIST_VERSION_TTL_SECONDS = 0
    list_cache.incidents_version_forget()
    caches["default"].clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Factories hash a password for every user; the production hasher would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager_tasks():
    """Celery runs tasks in-process: whatever is handed to the workers after commit (pages,
    webhook deliveries) is delivered at once."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def no_hand_offs(monkeypatch):
    """Hand-offs of outbox rows to the workers (incidents.outbox) are recorded, not sent:
    the test runs each step itself, or asserts what was handed over."""
    handed: list[tuple] = []
    monkeypatch.setattr(
        "incidents.tasks.outbox_deliver_task.delay", lambda *args: handed.append(args)
    )
    monkeypatch.setattr(
        "incidents.tasks.outbox_deliver_task.apply_async",
        lambda args, **kwargs: handed.append(tuple(args)),
    )
    monkeypatch.setattr(  # rows handed over together: recorded one by one, as handed
        "incidents.tasks.outbox_deliver_many_task.delay",
        lambda kind, row_ids: handed.extend((kind, row_id) for row_id in row_ids),
    )
    return handed


@pytest.fixture
def api():
    """api(user) -> an APIClient authenticated with that user's token (None: anonymous)."""

    secrets = {}

    def make(user=None):
        client = APIClient()
        if user is not None:
            if user.pk not in secrets:
                token, secrets[user.pk] = api_token_create(user=user, name="test")
                # A token in steady use: its first call does not write last_used_at, so query
                # counts are those of every later call (tests/api/test_tokens.py covers it).
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
            client.credentials(HTTP_AUTHORIZATION=f"Token {secrets[user.pk]}")
        return client

    return make


@pytest.fixture
def ic_user(db):
    return UserFactory(rank="engineering_manager", groups=["incident_commander"])


@pytest.fixture
def responder(db):
    return UserFactory(rank="engineer", groups=["responder"])


@pytest.fixture
def sre_lead(db):
    return UserFactory(rank="senior_engineer", groups=["sre_lead"], is_staff=True)


@pytest.fixture
def viewer(db):
    return UserFactory(rank="engineer", groups=["viewer"])


@pytest.fixture
def security_user(db):
    return UserFactory(rank="security_lead", groups=["security"])


class FakeDns:
    """Stands in for DNS (socket.getaddrinfo): a name it is told about answers from its table,
    one answer per lookup in the order given (the last one repeated), and every lookup is
    counted; IP literals and `localhost` resolve as usual; any other name does not resolve,
    so no test's lookup leaves the machine."""

    def __init__(self, real):
        self.real = real
        self.table: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def answer(self, name: str, *addresses: str) -> None:
        self.table[name.lower()] = list(addresses)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name == "localhost" or _is_ip(name):
            return self.real(host, port, family, type, proto, flags)
        self.lookups.append(name)
        answers = self.table.get(name.lower().rstrip("."))
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        port = int(port or 0)
        if ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture
def fake_dns(monkeypatch):
    dns = FakeDns(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


# --- a local HTTP receiver (tests/http_target.py) ----------------------------------------------
@pytest.fixture
def http_target():
    target = HttpTarget()
    yield target
    target.close()


# --- a local SMTP server (tests/smtp_server.py) ------------------------------------------------
@pytest.fixture
def smtp_server(settings):
    """Email goes through Django's SMTP backend to a real SMTP server on 127.0.0.1."""
    server = SmtpServer()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.close()


@pytest.fixture
def allow_local(settings):
    """Outbound requests may reach the local receiver, and give up on it quickly."""
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS = 0.5
