"""The HTTP requests this process is serving right now (method and path), for the loop monitor.

Written by the ASGI door (hello_async.ops.door) rather than Django middleware: it sees every
request, including the ones answered before Django runs (the body limit's 413s), and adds no
sync/async hop. The table is
written on the event loop and read from the loop monitor's watchdog thread *while the loop is
stalled*. It takes no lock: a contended lock on the loop thread is itself a blocking call (and
blockbuster flags it). Each write is one dict operation and the reader takes ``dict.copy()``,
both atomic under the GIL (int keys, so no Python-level ``__hash__``/``__eq__`` runs).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class InFlight:
    method: str
    path: str
    started: float  # time.monotonic()

    def describe(self, now: float) -> str:
        return f"{self.method} {self.path} ({(now - self.started) * 1000:.0f} ms)"


class InFlightTable:
    def __init__(self) -> None:
        # (method, path, started) per request: a tuple is cheaper to build than a frozen
        # dataclass on every request; the reader, rarely called, builds the InFlight records.
        self._requests: dict[int, tuple[str, str, float]] = {}
        self._ids = itertools.count()

    def add(self, method: str, path: str) -> int:
        key = next(self._ids)
        self._requests[key] = (method, path, time.monotonic())
        return key

    def remove(self, key: int) -> None:
        self._requests.pop(key, None)

    def snapshot(self) -> list[InFlight]:
        """The requests in flight, oldest first (safe to call from any thread)."""
        records = [InFlight(*request) for request in self._requests.copy().values()]
        return sorted(records, key=lambda r: r.started)

    def __len__(self) -> int:
        return len(self._requests)


_table = InFlightTable()


def get_table() -> InFlightTable:
    return _table
