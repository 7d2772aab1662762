"""What every fake receiver in the fault tests counts: each message by its idempotency key, so
a test can tell lost (never counted) from doubled (counted twice)."""

from __future__ import annotations

import threading
import time
from collections import Counter


class KeyCounts:
    def __init__(self):
        self.keys: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.delay = 0.0
        self.holding = 0  # messages taken and not yet answered (inside `delay`)

    def hold(self) -> None:
        """Wait `delay` before answering the message being handled, counted in `holding`."""
        if not self.delay:
            return
        with self.lock:
            self.holding += 1
        try:
            time.sleep(self.delay)
        finally:
            with self.lock:
                self.holding -= 1

    def received(self) -> int:
        with self.lock:
            return sum(self.keys.values())

    def twice(self) -> dict[str, int]:
        with self.lock:
            return {key: n for key, n in self.keys.items() if n > 1}
