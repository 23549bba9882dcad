"""What the upstream calls of this process took, and how they failed.

The client records each call here (:class:`timed_call`); ``/metrics`` (hello_async.ops.metrics)
reads the figures when it is scraped, so the client needs no metrics library. They are kept in
prometheus-client's objects: with several processes (its multiprocess mode) each process's go
to a file of its own, which ``/metrics`` adds up. Written on the event loop and from the sync
views' threads (prometheus-client's objects take a lock).
"""

from __future__ import annotations

import time
from types import TracebackType

from prometheus_client import Counter, Histogram

from hello_async.errors import UpstreamError
from hello_async.upstream.errors import error_kind

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ERROR_KINDS = ("timeout", "unavailable", "bad_status", "bad_response")

DURATIONS = Histogram(
    "hello_async_upstream_request_duration_seconds",
    "Time of one upstream GET, from the call to the whole body or the error.",
    buckets=BUCKETS,
    registry=None,
)
ERRORS = Counter(
    "hello_async_upstream_errors", "Upstream calls that failed, by kind.", ["kind"], registry=None
)
_ERRORS_BY_KIND = {kind: ERRORS.labels(kind) for kind in ERROR_KINDS}  # each shown from 0


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
        DURATIONS.observe(time.perf_counter() - self.started)
        if isinstance(exc, UpstreamError):
            _ERRORS_BY_KIND[error_kind(exc)].inc()
