"""Redis restarted without persistence while pages and sweeps are queued: every queued message
is gone, yet once Redis is back every deadline fires and every page reaches the pager, each
idempotency key exactly once. Deadlines and pages are rows: the timer sweep fires what is left,
and the outbox sweep (beat's `sweep-outbox`, pages being its kind "page") re-hands the pages
whose hand-off was lost. tests/faults/test_outbox_kinds.py runs the same fault on pages alone;
this one has the timer sweep write them while Redis goes."""

import pytest

from incidents.models import Deadline, Page

from .conftest import (
    assert_each_fired_once,
    by_status,
    firing_report,
    open_p1_incidents_all_due,
    people,
    redis_client,
    redis_restart_without_persistence,
    rows_queued,
    wait_for,
)

INCIDENTS = 30  # 180 deadlines, 240 webhook pages


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_redis_restart_loses_messages_not_pages(
    celery_worker_process, dedicated_broker, sweeps, webhook_receiver, redis_running
):
    actor = people(webhook_base=webhook_receiver.url)["engineering_manager"]
    open_p1_incidents_all_due(INCIDENTS, actor=actor)
    total = Deadline.objects.filter(status="pending").count()

    broker = dedicated_broker()
    queue = redis_client(broker)
    worker = celery_worker_process(broker, extra_env={"TENSAFE_OUTBOUND_ALLOWLIST": "127.0.0.1"})
    beat = sweeps(broker, every=1.0)
    outbox_beat = sweeps(broker, every=2.0, entry="sweep-outbox")  # as beat sends both

    # 1. Wait until pages are flowing and a backlog of them sits in Redis (a sweep hands over a
    #    whole batch of pages at its commit; deliveries trail it), then restart Redis: the
    #    backlog is lost.
    wait_for(
        lambda: webhook_receiver.received() > 0 and rows_queued(queue) > 50,
        timeout=60,
        interval=0.05,
        what=lambda: f"pages queued in Redis\n{worker.tail()}",
    )
    queued_when_lost = sum(queue.llen(name) for name in ("pages", "celery", "timers"))
    run_id = queue.info("server")["run_id"]
    redis_restart_without_persistence(broker)
    assert queue.info("server")["run_id"] != run_id, "a new Redis server, holding nothing"
    sent_before = Page.objects.filter(status=Page.Status.SENT).count()

    # 2. Sweeps go on (the worker and the beat stand-ins reconnect); the timer sweep fires what
    #    is left, and the outbox sweep hands the lost pages over again once the page kind's
    #    grace period (paging.POLICY.requeue_grace_seconds) has passed.
    def done():
        pages = Page.objects.count()
        return (
            not Deadline.objects.filter(status="pending").exists()
            and pages > 0
            and Page.objects.filter(status=Page.Status.SENT).count() == pages
        )

    wait_for(
        done,
        timeout=90,  # typically 15-25 s: the 10 s grace (+ up to 2 s), then the deliveries
        interval=0.25,
        what=lambda: f"every page sent after the restart: {by_status(Page)}\n{worker.tail()}",
    )
    worker.stop()
    print(
        f"lost {queued_when_lost} queued messages with {sent_before} of "
        f"{Page.objects.count()} pages sent; {beat.sent} timer sweeps sent ({beat.failed} "
        f"refused), {outbox_beat.sent} outbox sweeps ({outbox_beat.failed} refused)"
    )

    assert queued_when_lost > 0
    assert sent_before < Page.objects.count(), "some pages were still to send when Redis went"
    assert beat.sent > 0 and outbox_beat.sent > 0
    assert_each_fired_once(firing_report(), total)
    keys = set(Page.objects.values_list("idempotency_key", flat=True))
    assert set(webhook_receiver.keys) == keys, "every page reached the pager"
    twice = {k: n for k, n in webhook_receiver.keys.items() if n > 1}
    assert not twice, f"idempotency keys received more than once: {twice}"
