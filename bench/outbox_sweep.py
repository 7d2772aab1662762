"""Outbox sweep benchmark (issue 13): what one `outbox_sweep()` costs, with every kind's table
empty and busy, and which index PostgreSQL reads for each of its statements.

    .venv/bin/python bench/outbox_sweep.py                    # 20,000 settled rows per kind
    .venv/bin/python bench/outbox_sweep.py --settled 100000   # a longer history
    .venv/bin/python bench/outbox_sweep.py --help

Beat sends the sweep every 2 s (`sweep-outbox`, tensafe_ir/settings.py), so its cost is paid
all the time, mostly with nothing to re-hand. In order:

1. Drops and re-creates the PostgreSQL database `tensafe_bench_outbox` (`--database-url`; the
   name must start with tensafe_bench) and migrates it.
2. Empty: `--sweeps` sweeps in this process; queries per sweep and milliseconds.
3. Busy: per registered kind, `--settled` rows sent or failed (the history), `--waiting` rows
   pending with a retry up to 5 minutes ahead, and 20 of each of: pending and due within the
   grace period (queued, not lost), pending past it (hand-off lost), `sending` past the lease
   (worker died), `sending` under a lease (being sent); then ANALYZE. The first sweep re-hands
   the lost and the dead rows (40 a kind); the following ones find nothing (each row is
   re-handed once per grace period), which is the steady state.
4. EXPLAIN (ANALYZE, BUFFERS) of every statement of a steady sweep, in a transaction rolled
   back, naming the index (or table scan) each reads.

Hand-offs to the workers are counted, not sent: no broker is needed. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    django_setup,
    load_average,
    machine,
    migrate,
    recreate_database,
    server_env,
)

SPECIAL = 20  # rows of each special state per kind


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--database-url",
        default="postgres://root@127.0.0.1:5432/tensafe_bench_outbox",
        help="PostgreSQL database to DROP and re-create (never point this at real data)",
    )
    p.add_argument("--settled", type=int, default=20_000, help="sent or failed rows per kind")
    p.add_argument("--waiting", type=int, default=1_000, help="rows per kind waiting for a retry")
    p.add_argument("--sweeps", type=int, default=30, help="sweeps timed in each state")
    return p.parse_args()


# --- rows of each kind -----------------------------------------------------------------------
def _fixtures() -> dict:
    """What the rows point at: one incident, one update, one subscription, one person."""
    from django.utils import timezone

    from comms.models import Update
    from incidents.models import Incident, TimelineEvent, User
    from incidents.states import Status, TimelineKind
    from integrations.models import WebhookSubscription

    now = timezone.now()
    person = User.objects.create(username="bench-oncall", email="oncall@bench.invalid")
    incident = Incident.objects.create(
        title="Bench",
        severity="P1",
        status=Status.INVESTIGATING,
        detection_source="monitoring",
        channel_name="#inc-bench-outbox",
        detected_at=now,
        declared_at=now,
        declared_by=person,
    )
    event = TimelineEvent.objects.create(
        incident=incident, kind=TimelineKind.DECLARED, occurred_at=now, recorded_at=now, text="x"
    )
    update = Update.objects.create(
        incident=incident, channel=Update.Channel.STATUS_PAGE, text="Investigating.", posted_at=now
    )
    subscription = WebhookSubscription.objects.create(
        name="bench", url="https://hooks.bench.invalid/x", events=["declared"], secret="s"
    )
    return {
        "person": person,
        "incident": incident,
        "event": event,
        "update": update,
        "subscription": subscription,
    }


def _builders(f: dict) -> dict:
    """kind -> (model, row(i) -> an unsaved row with the kind's own columns)."""
    from django.utils import timezone

    from comms.models import Delivery, Subscriber, SubscriberDelivery
    from incidents.models import Page
    from integrations.models import WebhookDelivery
    from pir.models import ActionDigestDelivery

    today = timezone.now().date()
    subscribers: list = []

    def subscriber(i: int):
        while len(subscribers) <= i:  # made in bulk, on first use
            start = len(subscribers)
            subscribers.extend(
                Subscriber.objects.bulk_create(
                    Subscriber(
                        email=f"reader{n}@bench.invalid",
                        status=Subscriber.Status.CONFIRMED,
                        created_at=timezone.now(),
                    )
                    for n in range(start, start + 5000)
                )
            )
        return subscribers[i]

    # What a page and an update delivery share: an email about the incident.
    email = {"incident": f["incident"], "channel": "email", "subject": "s", "body": "b"}
    return {
        "page": (
            Page,
            lambda i: Page(**email, recipient=f["person"], rule_key="bench", target="o@b.invalid"),
        ),
        "comms-delivery": (
            Delivery,
            lambda i: Delivery(**email, update=f["update"], target="c@b.invalid"),
        ),
        "status-subscriber": (
            SubscriberDelivery,
            lambda i: SubscriberDelivery(update=f["update"], subscriber=subscriber(i)),
        ),
        "pir-digest": (
            ActionDigestDelivery,
            lambda i: ActionDigestDelivery(
                manager=f["person"],
                severity="P1",
                period_start=today,
                period_end=today,
                to_address="em@bench.invalid",
                subject="s",
                body="b",
            ),
        ),
        "outgoing-webhook": (
            WebhookDelivery,
            lambda i: WebhookDelivery(
                subscription=f["subscription"],
                incident=f["incident"],
                timeline_event=f["event"],
                event="declared",
            ),
        ),
    }


def fill(settled: int, waiting: int) -> dict:
    """Every registered kind's table as described in the module docstring. Returns the rows
    written per kind (a kind without a builder here is reported, not filled). The special
    rows are dated once everything is written, so the time filling takes does not age them."""
    import random

    from django.db import connection
    from django.utils import timezone

    from incidents.outbox import OUTBOX_KINDS

    builders = _builders(_fixtures())
    rng = random.Random(13)  # noqa: S311 - spreads retry times; not a secret
    written = {}
    for kind in sorted(OUTBOX_KINDS):
        if kind not in builders:
            written[kind] = "no builder in bench/outbox_sweep.py: not filled"
            continue
        model, build = builders[kind]
        now = timezone.now()
        states = (
            [("settled", n) for n in range(settled)]
            + [("waiting", n) for n in range(waiting)]
            + [(state, n) for state in ("fresh", "lost", "dead", "busy") for n in range(SPECIAL)]
        )
        rows = []
        for i, (state, n) in enumerate(states):
            row = build(i)
            row.idempotency_key = f"bench-{kind}-{state}-{i}"
            row.created_at = row.next_attempt_at = now - timedelta(hours=1)
            if state == "settled":
                row.status = "failed" if n % 10 == 0 else "sent"
                row.attempts, row.sent_at = 1, row.created_at
            elif state == "waiting":  # a retry later than this benchmark lasts
                row.status, row.attempts = "pending", 2
                row.next_attempt_at = now + timedelta(seconds=rng.uniform(600, 3600))
            elif state in ("fresh", "lost"):
                row.status = "pending"
            else:
                row.status, row.attempts = "sending", 1
            rows.append(row)
        model.objects.bulk_create(rows, batch_size=5000)
        written[kind] = len(rows)
    now = timezone.now()
    for kind in written:
        if kind not in builders:
            continue
        spec = OUTBOX_KINDS[kind]
        grace = timedelta(seconds=spec.policy.requeue_grace_seconds)
        lease = timedelta(seconds=spec.policy.lease_seconds)
        rows = spec.model.objects
        rows.filter(idempotency_key__contains="-fresh-").update(next_attempt_at=now - grace / 4)
        rows.filter(idempotency_key__contains="-lost-").update(next_attempt_at=now - grace * 6)
        rows.filter(idempotency_key__contains="-dead-").update(lease_until=now - lease / 10)
        rows.filter(idempotency_key__contains="-busy-").update(lease_until=now + lease / 2)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return written


# --- sweeps ------------------------------------------------------------------------------------
def _statements(captured) -> list[str]:
    """The statements a sweep sent, without transaction control."""
    skip = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK", "BEGIN", "COMMIT")
    return [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith(skip)]


def sweep_runs(count: int, handed: list) -> dict:
    """`count` sweeps: statements, wall-clock and this process's CPU milliseconds (the Python
    side: Django and the driver; PostgreSQL's time is the rest of the wall time, plus waiting
    for a core on a busy machine), of the first sweep and of the rest."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.outbox import outbox_sweep

    runs = []
    for _ in range(count):
        handed.clear()
        with CaptureQueriesContext(connection) as queries:
            started, cpu = time.perf_counter(), time.process_time()
            outbox_sweep()
            elapsed = (time.perf_counter() - started) * 1000
            cpu = (time.process_time() - cpu) * 1000
        runs.append((len(_statements(queries.captured_queries)), elapsed, cpu, sum(handed)))
    first, rest = runs[0], runs[1:] or runs[:1]
    return {
        "first": {
            "queries": first[0],
            "ms": round(first[1], 2),
            "python_cpu_ms": round(first[2], 2),
            "handed_over": first[3],
        },
        "then": {
            "queries": sorted({r[0] for r in rest}),
            "ms_p50": round(statistics.median(r[1] for r in rest), 2),
            "ms_max": round(max(r[1] for r in rest), 2),
            "python_cpu_ms_p50": round(statistics.median(r[2] for r in rest), 2),
            "handed_over": sum(r[3] for r in rest),
        },
    }


def explain_sweep() -> list[dict]:
    """Every statement of one sweep under EXPLAIN (ANALYZE, BUFFERS), rolled back: the table,
    what it reads (index names, or a sequential scan), rows, and the time PostgreSQL took."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from incidents.outbox import outbox_sweep

    with CaptureQueriesContext(connection) as queries:
        outbox_sweep()
    plans = []
    with transaction.atomic():
        with connection.cursor() as cur:
            for sql in _statements(queries.captured_queries):
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {sql}")
                plan = [line for (line,) in cur.fetchall()]
                text = "\n".join(plan)
                plans.append(
                    {
                        "statement": re.sub(r"\s+", " ", sql)[:160],
                        "reads": sorted(
                            set(re.findall(r"Index (?:Only )?Scan (?:Backward )?using (\w+)", text))
                            | set(re.findall(r"Bitmap Index Scan on (\w+)", text))
                            | {f"seq scan {t}" for t in re.findall(r"Seq Scan on (\w+)", text)}
                        ),
                        "ms": float(re.search(r"Execution Time: ([\d.]+)", text).group(1)),
                    }
                )
        transaction.set_rollback(True)
    return plans


def main() -> int:
    args = parse_args()
    info = {"machine": machine(), "command": " ".join(sys.argv)}
    env = server_env(
        DATABASE_URL=args.database_url,
        DJANGO_SETTINGS_MODULE="tensafe_ir.settings",
        TENSAFE_LOG_LEVEL="ERROR",
    )
    recreate_database(args.database_url)
    migrate(env)
    django_setup(env)
    from django.db import connection

    import incidents.outbox as outbox

    handed: list[int] = []
    outbox.outbox_enqueue = lambda kind, ids: handed.append(len(ids))  # no broker here

    info["empty"] = sweep_runs(args.sweeps, handed)
    started = time.monotonic()
    info["rows"] = fill(args.settled, args.waiting)
    info["fill_seconds"] = round(time.monotonic() - started, 1)
    info["busy"] = sweep_runs(args.sweeps, handed)
    info["explain_steady_sweep"] = explain_sweep()
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        info["postgresql"] = cur.fetchone()[0]
    info["load_average_at_end"] = load_average()
    print(json.dumps(info, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
