"""This process's Prometheus metrics (prometheus-client), served at ``/metrics``.

Pulled at scrape time from their owners, so those modules need not know about Prometheus:

    hello_async_requests_in_flight            gauge    hello_async.ops.inflight
    hello_async_background_jobs_pending       gauge    hello_async.work.background
    hello_async_background_jobs_failed_total  counter  hello_async.work.background
    hello_async_loop_stalls_total             counter  hello_async.ops.loopmonitor
    hello_async_gc_frozen_objects             gauge    hello_async.ops.gctuning
    hello_async_sse_streams_open              gauge    hello_async.streams.subscribers
    hello_async_sse_refused_total             counter  hello_async.streams.subscribers (503s)
    hello_async_sse_dropped_total             counter  hello_async.streams.subscribers (laggards)
    hello_async_log_records_dropped_total     counter  hello_async.logs.handlers (blocked output)
    hello_async_upstream_request_duration_seconds  histogram   hello_async.upstream.stats
    hello_async_upstream_errors_total{kind}   counter  hello_async.upstream.stats (timeout,
                                                       unavailable, bad_status, bad_response)
    python_gc_*                               (prometheus-client) the collector's runs

One registry per process: with several workers (Gunicorn, ``--workers``) each answers for
itself, so scrape each worker or run one worker per container.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from hello_async.logs import handlers as log_handlers
from hello_async.ops import inflight, loopmonitor
from hello_async.streams.subscribers import get_streams
from hello_async.upstream import stats
from hello_async.work import background

CONTENT_TYPE = CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()


class _OwnersCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        per_bucket, seconds, errors = stats.STATS.snapshot()
        buckets = []
        total = 0
        for bound, count in zip([*stats.BUCKETS, float("inf")], per_bucket, strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
        yield HistogramMetricFamily(
            "hello_async_upstream_request_duration_seconds",
            "Time of one upstream GET, from the call to the whole body or the error.",
            buckets=buckets,
            sum_value=seconds,
        )
        failed = CounterMetricFamily(
            "hello_async_upstream_errors", "Upstream calls that failed, by kind.", labels=["kind"]
        )
        for kind, count in errors.items():
            failed.add_metric([kind], count)
        yield failed
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
        broker = get_streams()
        yield GaugeMetricFamily(
            "hello_async_sse_streams_open",
            "Event streams open (live view, consoles, boards), of HELLO_ASYNC_SSE_MAX_SUBSCRIBERS.",
            value=len(broker),
        )
        yield CounterMetricFamily(
            "hello_async_sse_refused",
            "Event streams refused with 503: HELLO_ASYNC_SSE_MAX_SUBSCRIBERS were open.",
            value=broker.refused_total,
        )
        yield CounterMetricFamily(
            "hello_async_sse_dropped",
            "Event streams ended because their client fell HELLO_ASYNC_SSE_QUEUE events behind.",
            value=broker.dropped_total,
        )
        yield CounterMetricFamily(
            "hello_async_log_records_dropped",
            "Log records dropped: HELLO_ASYNC_LOG_QUEUE were waiting for a blocked output.",
            value=log_handlers.dropped_total(),
        )


REGISTRY.register(_OwnersCollector())
GCCollector(registry=REGISTRY)


def render() -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)
