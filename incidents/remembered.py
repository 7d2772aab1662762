"""A value a process reads from the database and reuses for a short while.

The status page and the incident list both ask "what is the newest version of what I show?"
on every request; under load that one query is a large share of a cached answer. Each keeps a
`Remembered` of it: the value read last is reused until its time (a setting, in seconds; 0
reads every time) runs out, and `forget()` drops it at once (after a change this process made
itself). One tuple, replaced whole, so threads never see half of it.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Generic, TypeVar

from django.conf import settings

T = TypeVar("T")


class Remembered(Generic[T]):
    def __init__(self, ttl_setting: str, default_seconds: float):
        self.ttl_setting = ttl_setting
        self.default_seconds = default_seconds
        self._entry: tuple[float, T] | None = None

    def get(self, read: Callable[[], T]) -> T:
        """The remembered value while it is fresh, else `read()` (and remember that)."""
        ttl = getattr(settings, self.ttl_setting, self.default_seconds)
        entry, clock = self._entry, monotonic()
        if ttl > 0 and entry is not None and entry[0] > clock:
            return entry[1]
        value = read()
        self._entry = (clock + ttl, value)
        return value

    def forget(self) -> None:
        self._entry = None
