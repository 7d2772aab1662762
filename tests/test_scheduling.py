"""`make test`'s xdist scheduler (tests/conftest.py, `SpreadWaiting`), driven as xdist's
controller drives it, against four simulated workers: no more than WAITING_AT_ONCE of them hold
a waiting test while anything else is left, no worker runs another test between two of the
fuzzer's, and no worker is ever left holding a single test while tests remain (xdist's worker
runs a test only once it holds the next one, so that worker would wait for ever)."""

import random
from types import SimpleNamespace

import pytest

from tests.conftest import FUZZ, WAITING, WAITING_AT_ONCE, SpreadWaiting


class Config:
    def getvalue(self, name):
        return {"tx": ["4*popen"]}[name]

    def getoption(self, name):
        return {"maxschedchunk": 1, "dist": "load"}[name]


class Worker:
    def __init__(self, name):
        self.name, self.shutting_down, self.ran = name, False, []
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indices):
        assert not self.shutting_down

    def shutdown(self):
        self.shutting_down = True


def _collection(waiting: int, fuzzed: int, rest: int) -> list[str]:
    return (
        [f"{WAITING[n % 2]}test_w.py::test_{n}" for n in range(waiting)]
        + [f"{FUZZ}test_schema_fuzz.py::test_operation[{n}]" for n in range(fuzzed)]
        + [f"tests/test_r{n // 10}.py::test_{n}" for n in range(rest)]
    )


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize(
    "waiting, fuzzed, rest", [(20, 76, 300), (6, 0, 0), (5, 3, 1), (1, 76, 10), (9, 2, 40)]
)
def test_the_scheduler_spreads_waiting_tests_and_never_stalls(waiting, fuzzed, rest, seed):
    collection = _collection(waiting, fuzzed, rest)
    scheduler = SpreadWaiting(Config())
    workers = [Worker(f"gw{n}") for n in range(4)]
    for worker in workers:
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()

    def holding_waiting():
        return [
            w
            for w in workers
            if any(collection[i].startswith(WAITING) for i in scheduler.node2pending[w])
        ]

    steps = random.Random(seed)  # which worker finishes next
    while any(scheduler.node2pending.values()):
        if scheduler.pending:
            if any(not collection[i].startswith(WAITING) for i in scheduler.pending):
                assert len(holding_waiting()) <= WAITING_AT_ONCE
            for worker in workers:
                assert len(scheduler.node2pending[worker]) >= 2 or worker.shutting_down, worker.name
        # A worker runs the first test it holds once it holds a second (or is stopping).
        ready = [
            w
            for w in workers
            if len(scheduler.node2pending[w]) >= 2
            or (w.shutting_down and scheduler.node2pending[w])
        ]
        assert ready, "every worker waits for a test it will never get"
        worker = steps.choice(ready)
        index = scheduler.node2pending[worker][0]
        worker.ran.append(collection[index])
        scheduler.mark_test_complete(worker, index, duration=0.01)

    assert sorted(t for w in workers for t in w.ran) == sorted(collection)
    for worker in workers:
        fuzzer = [n for n, test in enumerate(worker.ran) if test.startswith(FUZZ)]
        if fuzzer:  # one run of consecutive positions
            assert fuzzer == list(range(fuzzer[0], fuzzer[0] + len(fuzzer))), worker.name
