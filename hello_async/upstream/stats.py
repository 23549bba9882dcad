"""What the upstream calls of this process took, and how they failed: plain counters.

The client records each call here; ``/metrics`` (hello_async.ops.metrics) reads them when it is
scraped, so the client needs no metrics library. Written on the event loop and from the sync
views' threads: each record is a few integer additions under one lock.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from hello_async.errors import UpstreamError
from hello_async.upstream.errors import error_kind

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ERROR_KINDS = ("timeout", "unavailable", "bad_status", "bad_response")


@dataclass
class CallStats:
    """Call durations by bucket (upper bounds :data:`BUCKETS`, then +Inf), and errors by kind."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, seconds: float, error: str | None = None) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.seconds += seconds
            if error is not None:
                self.errors[error] += 1

    def snapshot(self) -> tuple[list[int], float, dict[str, int]]:
        with self._lock:
            return list(self.counts), self.seconds, dict(self.errors)


STATS = CallStats()


class timed_call:  # noqa: N801 (used as a function: ``with stats.timed_call():``)
    """Record the call in the block: its duration, and its UpstreamError's kind."""

    __slots__ = ("started",)

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        kind = error_kind(exc) if isinstance(exc, UpstreamError) else None
        STATS.record(time.perf_counter() - self.started, kind)
