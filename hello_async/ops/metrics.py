"""The server's Prometheus metrics (prometheus-client), served at ``/metrics``.

Each figure has one owner, which counts it where it happens; ``/metrics`` only reads. Across
processes (``hello-async --workers N``, Gunicorn) prometheus-client's multiprocess mode adds them
up: with ``PROMETHEUS_MULTIPROC_DIR`` set, each process writes its figures to files of its own
there, and whichever process answers ``/metrics`` reads them all, so every figure covers every
worker process. Without it (one process) the figures are read from the owners in process.

    figure                                   type       owner (hello_async.)     across processes
    hello_async_http_requests_total          counter    ops.requestmetrics       sum
        {method,route,status}
    hello_async_http_request_duration_seconds{method,route}
                                             histogram  ops.requestmetrics       sum
    hello_async_requests_in_flight           gauge      ops.inflight; several:   sum of the live
                                                        ops.requestmetrics
    hello_async_background_jobs_pending      gauge      jobs.background          sum of the live
    hello_async_background_jobs_done_total   counter    jobs.background          sum
    hello_async_background_jobs_failed_total counter    jobs.background          sum
    hello_async_background_jobs_cancelled_total
                                             counter    jobs.background          sum
    hello_async_background_jobs_refused_total
                                             counter    jobs.background          sum
    hello_async_loop_stalls_total            counter    ops.loopmonitor          sum
    hello_async_gc_frozen_objects            gauge      ops.gctuning             each live one's,
                                                                                 labelled {pid}
    hello_async_sse_streams_open             gauge      streams.subscribers      sum of the live
    hello_async_sse_refused_total            counter    streams.subscribers      sum
    hello_async_sse_dropped_total            counter    streams.subscribers      sum
    hello_async_log_records_dropped_total    counter    logs.handlers            sum
    hello_async_upstream_request_duration_seconds
                                             histogram  upstream.stats           sum
    hello_async_upstream_errors_total{kind}  counter    upstream.stats (timeout, sum
                                                        unavailable, bad_status,
                                                        bad_response)
    python_gc_*                              counter    prometheus-client's      one process
                                                        collector                only: left out

"Sum of the live" gauges (prometheus-client's ``livesum``; ``liveall`` for the frozen objects)
count only processes that are alive: a dead worker's files are dropped at the next scrape (and
by Gunicorn's ``child_exit`` hook, docs/deploy.md). Counters keep a dead worker's figures: they
are the server's since it started. ``python_gc_*`` describe one interpreter: summed over several
they mean nothing, so with several processes they are left out.

The owners keep their figures in prometheus-client's objects (``registry=None``: registered
here, never in prometheus-client's global registry) and do not import this module. The request
figures are the exception: on the path of every request, plain integers are several times
cheaper, so one process reads them from ops.requestmetrics and several from the files it also
writes (hello_async.ops.requestmetrics says how).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections.abc import Iterable

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from hello_async.jobs import background
from hello_async.logs import handlers as log_handlers
from hello_async.ops import gctuning, inflight, loopmonitor, requestmetrics
from hello_async.streams import subscribers
from hello_async.upstream import stats

CONTENT_TYPE = CONTENT_TYPE_LATEST

OWNED = (
    background.JOBS_PENDING,
    background.JOBS_DONE,
    background.JOBS_FAILED,
    background.JOBS_CANCELLED,
    background.JOBS_REFUSED,
    loopmonitor.LOOP_STALLS,
    gctuning.FROZEN_OBJECTS,
    subscribers.STREAMS_OPEN,
    subscribers.STREAMS_REFUSED,
    subscribers.STREAMS_DROPPED,
    log_handlers.RECORDS_DROPPED,
    stats.DURATIONS,
    stats.ERRORS,
)


class _InFlightCollector(Collector):
    """One process: the requests in flight, from the table the loop monitor reads."""

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(*requestmetrics.IN_FLIGHT, value=len(inflight.get_table()))


def process_registry() -> CollectorRegistry:
    """One process: its figures, read in process."""
    registry = CollectorRegistry()
    for collector in (*OWNED, requestmetrics.REQUEST_METRICS, _InFlightCollector()):
        registry.register(collector)
    GCCollector(registry=registry)
    return registry


def fleet_registry(directory: str) -> CollectorRegistry:
    """Several processes: every process's figures, read from ``directory`` at each scrape."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


_LIVE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db$")


def forget_dead_processes(directory: str) -> list[int]:
    """Drop the live gauges' files of processes that are gone (a worker killed and replaced):
    their in-flight requests and open streams are no longer anyone's. Returns their pids."""
    dead = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        found = _LIVE_FILE.search(path)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:
            pass  # someone else's: alive
    for pid in dead:
        with contextlib.suppress(FileNotFoundError):  # another process's scrape was first
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    return sorted(dead)


_registry: CollectorRegistry | None = None


def render() -> bytes:
    """The metrics in Prometheus' text format."""
    global _registry
    directory: str = settings.PROMETHEUS_MULTIPROC_DIR
    if directory:
        forget_dead_processes(directory)
    if _registry is None:
        _registry = fleet_registry(directory) if directory else process_registry()
    return generate_latest(_registry)
