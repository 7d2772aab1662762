"""The workers' PostgreSQL connections terminated again and again (pg_terminate_backend, as an
operator, `idle_session_timeout` or a failover would) while the timers sweeper fires hundreds
of due deadlines and the page and webhook workers send what they write. Every deadline fires
exactly once, every page and every outgoing webhook delivery is sent, and none reaches the
receiver twice: each step of a worker either rolls back whole or is recognised as done when it
is tried again on a new connection (incidents.db)."""

import time

import pytest

from incidents.models import Deadline, Page
from integrations.models import WebhookDelivery, WebhookSubscription

from .conftest import (
    assert_each_fired_once,
    by_status,
    firing_report,
    open_p1_incidents_all_due,
    people,
    wait_for,
)

INCIDENTS = 40  # 240 due deadlines, 200 escalations (one webhook delivery each), their pages
TERMINATE_EVERY = 0.5  # seconds between rounds of pg_terminate_backend()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_connections_terminated_mid_sweep_lose_and_double_nothing(
    celery_worker_process, dedicated_broker, sweeps, webhook_receiver, pg_terminator
):
    actor = people(webhook_base=webhook_receiver.url)["engineering_manager"]
    WebhookSubscription.objects.create(
        name="siem", url=webhook_receiver.url, events=["escalated"], secret="s3cret"
    )
    open_p1_incidents_all_due(INCIDENTS, actor=actor)
    total = Deadline.objects.filter(status="pending").count()
    assert total == INCIDENTS * 6

    broker = dedicated_broker()
    terminator = pg_terminator(TERMINATE_EVERY)
    worker = celery_worker_process(
        broker, concurrency=4, extra_env={"TENSAFE_OUTBOUND_ALLOWLIST": "127.0.0.1"}
    )
    started = time.monotonic()
    sweeps(broker, every=1.0)  # beat: timer sweeps ...
    sweeps(broker, every=2.0, entry="sweep-outbox")  # ... and lost page and webhook hand-offs

    # 1. Terminate the workers' sessions every TERMINATE_EVERY s from the first sweep until
    #    every deadline has fired and the deliveries are under way.
    terminator.armed.set()
    wait_for(
        lambda: not Deadline.objects.filter(status="pending").exists(),
        timeout=120,
        interval=0.2,
        what=lambda: f"every deadline fired under terminations\n{worker.tail()}",
    )
    wait_for(lambda: terminator.busy >= 10, timeout=30, what="ten busy sessions terminated")
    terminator.armed.clear()
    terminated, busy, rounds = terminator.terminated, terminator.busy, terminator.rounds

    # 2. Everything written is sent (what a terminated task left behind is re-handed by the
    #    sweeps after its grace period).
    def all_sent():
        pages, deliveries = Page.objects.count(), WebhookDelivery.objects.count()
        return (
            pages
            and deliveries
            and Page.objects.filter(status="sent").count() == pages
            and WebhookDelivery.objects.filter(status="sent").count() == deliveries
        )

    wait_for(
        all_sent,
        timeout=120,
        interval=0.25,
        what=lambda: (
            f"every page and delivery sent: pages {by_status(Page)}, webhooks "
            f"{by_status(WebhookDelivery)}\n{worker.tail()}"
        ),
    )
    elapsed = time.monotonic() - started
    worker.stop()
    recovered = worker.log().count("database connection lost")
    print(
        f"{terminated} worker sessions terminated in {rounds} rounds ({busy} inside a statement "
        f"or transaction); {recovered} steps retried on a new connection; all done in "
        f"{elapsed:.1f} s"
    )

    assert not terminator.errors, terminator.errors
    assert busy >= 10, "sessions were terminated while they worked"
    assert recovered > 0, "some work was carried on over a new connection"
    assert_each_fired_once(firing_report(), total)
    page_keys = set(Page.objects.values_list("idempotency_key", flat=True))
    delivery_keys = set(WebhookDelivery.objects.values_list("idempotency_key", flat=True))
    assert len(delivery_keys) == INCIDENTS * 5, "one delivery per escalation"
    assert set(webhook_receiver.keys) == page_keys | delivery_keys, "0 lost"
    twice = {k: n for k, n in webhook_receiver.keys.items() if n > 1}
    assert not twice, f"received more than once: {twice}"
    assert not WebhookSubscription.objects.filter(enabled=False).exists()
