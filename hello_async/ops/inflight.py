"""The HTTP requests this process is serving right now (method and path), for the loop monitor.

An ASGI wrapper rather than Django middleware: it sees every request, including the ones
answered before Django runs (the body limit's 413s), and adds no sync/async hop. The table is
written on the event loop and read from the loop monitor's watchdog thread *while the loop is
stalled*. It takes no lock: a contended lock on the loop thread is itself a blocking call (and
blockbuster flags it). Each write is one dict operation and the reader takes ``dict.copy()``,
both atomic under the GIL (int keys, so no Python-level ``__hash__``/``__eq__`` runs).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from hello_async.logs import context
from hello_async.web.asgi_types import ASGIApp, Receive, Scope, Send


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


class InFlightMiddleware:
    """Records each HTTP request in the process's table from its start until the app returns."""

    def __init__(self, app: ASGIApp, *, table: InFlightTable | None = None) -> None:
        self.app = app
        self._table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        table = self._table if self._table is not None else _table
        key = table.add(str(scope.get("method", "?")), str(scope.get("path", "?")))
        # The request's id, for its log lines and its background work's (hello_async.logs).
        context.request_id.set(context.new_request_id())
        try:
            await self.app(scope, receive, send)
        finally:
            table.remove(key)
