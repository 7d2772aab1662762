"""Two sweepers racing over the same 2,000 due deadlines on PostgreSQL: SKIP LOCKED shares the
work out, so none is lost and none fires twice."""

import threading
import time

import pytest
from django.db import connection, connections

from incidents.models import Deadline, Page
from incidents.services import paging, timers
from incidents.tasks import POLL_SECONDS

from .conftest import assert_each_fired_once, firing_report, open_p1_incidents_all_due, people

DEADLINES = 2000
SWEEPERS = 2
BATCH = 100  # small batches: the two sweepers take turns many times instead of once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweepers_fire_2000_deadlines_each_once(monkeypatch):
    actor = people()["engineering_manager"]
    open_p1_incidents_all_due(-(-DEADLINES // 6), actor=actor)
    surplus = Deadline.objects.count() - DEADLINES  # 6 per incident: trim to exactly 2,000
    Deadline.objects.filter(
        pk__in=list(Deadline.objects.order_by("-id").values_list("pk", flat=True)[:surplus])
    ).delete()
    assert Deadline.objects.filter(status="pending").count() == DEADLINES

    # What each sweeper hands to the workers after its commits (no broker in this test).
    queued: list[int] = []
    kinds: set[str] = set()

    def hand_over(kind: str, ids: list[int]) -> None:
        kinds.add(kind)
        queued.extend(ids)

    monkeypatch.setattr(timers, "outbox_enqueue", hand_over)

    barrier = threading.Barrier(SWEEPERS)
    fired = [0] * SWEEPERS
    calls = [0] * SWEEPERS
    errors: list[BaseException] = []

    def sweeper(index: int) -> None:
        """Sweep like sweep_timers_task does, until nothing due is left."""
        try:
            barrier.wait(timeout=30)
            while True:
                count = timers.deadlines_fire_due(limit=BATCH)
                fired[index] += count
                calls[index] += 1
                # 0 can also mean "everything due is locked by the other sweeper": only stop
                # once nothing is pending at all.
                if count == 0:
                    if not Deadline.objects.filter(status="pending").exists():
                        return
                    time.sleep(POLL_SECONDS)  # as sweep_timers_task does
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper, args=(i,)) for i in range(SWEEPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    connections.close_all()
    print(f"sweepers fired {fired} in {calls} calls")

    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a sweeper never finished"
    assert sum(fired) == DEADLINES, (fired, calls)
    assert all(fired), f"one sweeper did all the work, nothing raced: {fired}"
    assert_each_fired_once(firing_report(), DEADLINES)
    page_ids = list(Page.objects.values_list("pk", flat=True))
    assert page_ids, "the deadlines paged nobody"
    assert sorted(queued) == sorted(page_ids), "each page handed to the workers exactly once"
    assert kinds == {paging.KIND}
