"""This process's Prometheus metrics (prometheus-client), served at ``/metrics``.

Pulled at scrape time from their owners, so those modules need not know about Prometheus:

    hello_async_requests_in_flight            gauge    hello_async.ops.inflight
    hello_async_background_jobs_pending       gauge    hello_async.work.background
    hello_async_background_jobs_failed_total  counter  hello_async.work.background
    hello_async_loop_stalls_total             counter  hello_async.ops.loopmonitor
    hello_async_gc_frozen_objects             gauge    hello_async.ops.gctuning
    python_gc_*                               (prometheus-client) the collector's runs

Pushed by hello_async.upstream around each call (:func:`upstream_call`):

    hello_async_upstream_request_duration_seconds  histogram
    hello_async_upstream_errors_total{kind}        counter: timeout, unavailable, bad_status,
                                                   bad_response

One registry per process: with several workers (Gunicorn, ``--workers``) each answers for
itself, so scrape each worker or run one worker per container.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable
from types import TracebackType

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from hello_async.errors import (
    UpstreamBadResponse,
    UpstreamBadStatus,
    UpstreamError,
    UpstreamTimeout,
)
from hello_async.ops import inflight, loopmonitor
from hello_async.work import background

CONTENT_TYPE = CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()

UPSTREAM_SECONDS = Histogram(
    "hello_async_upstream_request_duration_seconds",
    "Time of one upstream GET, from the call to the whole body or the error.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "hello_async_upstream_errors",
    "Upstream calls that failed, by kind.",
    ["kind"],
    registry=REGISTRY,
)
ERROR_KINDS = ("timeout", "unavailable", "bad_status", "bad_response")
for _kind in ERROR_KINDS:  # every kind exported from the start, at 0
    UPSTREAM_ERRORS.labels(kind=_kind)


def error_kind(exc: UpstreamError) -> str:
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamBadStatus):
        return "bad_status"
    if isinstance(exc, UpstreamBadResponse):
        return "bad_response"
    return "unavailable"


class upstream_call:  # noqa: N801 (used as a function: ``with metrics.upstream_call():``)
    """Time one upstream call; count its UpstreamError by kind.

    A class rather than a ``@contextmanager`` generator: it runs twice per fan-out request.
    """

    __slots__ = ("started",)

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, UpstreamError):
            UPSTREAM_ERRORS.labels(kind=error_kind(exc)).inc()
        UPSTREAM_SECONDS.observe(time.perf_counter() - self.started)


class _OwnersCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        counts = background.counts()
        yield GaugeMetricFamily(
            "hello_async_requests_in_flight",
            "HTTP requests being served by this process.",
            value=len(inflight.get_table()),
        )
        yield GaugeMetricFamily(
            "hello_async_background_jobs_pending",
            "Background jobs submitted and not yet finished.",
            value=counts.pending,
        )
        yield CounterMetricFamily(
            "hello_async_background_jobs_failed",
            "Background jobs that raised an exception.",
            value=counts.failed,
        )
        yield CounterMetricFamily(
            "hello_async_loop_stalls",
            "Times the event loop was blocked longer than HELLO_ASYNC_LOOP_STALL_MS.",
            value=loopmonitor.stalls_total(),
        )
        yield GaugeMetricFamily(
            "hello_async_gc_frozen_objects",
            "Objects loaded at startup that the garbage collector no longer scans (gc.freeze).",
            value=gc.get_freeze_count(),
        )


REGISTRY.register(_OwnersCollector())
GCCollector(registry=REGISTRY)


def render() -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)
