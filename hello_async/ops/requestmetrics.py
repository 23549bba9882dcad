"""Every HTTP request counted and timed by method, URL pattern and status, at the ASGI level.

    hello_async_http_requests_total{method,route,status}          counter
    hello_async_http_request_duration_seconds{method,route}       histogram

:class:`hello_async.ops.door.Door`, the one ASGI wrapper around Django's handler, keeps an
:class:`Exchange` for each request: it sees every request, the ones answered before Django runs
too (the body limit's 413s), times it from its arrival to its answer's last message, and adds no
thread hop. Every label is bounded:

* ``route`` is the URL pattern the request matched (``/``, ``/smoke_orders/<str:id>/``), never
  the raw path, which would make a series of every URL anyone cares to send; ``unmatched`` when
  no pattern answered (a 404 of the resolver, a static file, a 413 before Django).
* ``method`` is one of HTTP's nine, or ``other``.
* ``status`` is the one sent; ``500`` when the application raised before answering, ``499``
  (nginx's "client closed request") when the client left before an answer was sent.

A request is counted just before its answer's last message is sent, so a client that has its
answer finds it counted, whichever process it asks next.

The pattern is known only once Django has resolved the URL (``request.resolver_match``), inside
the handler. :class:`RouteMiddleware` (in ``settings.MIDDLEWARE`` and the lean chain) hands
Django's request to the request's :class:`Exchange`, which the door puts in the ASGI scope
(Django's request keeps the scope; a context variable costs more, and a value set in one where
Django runs the view in a task of its own would not reach the door).

**Where the figures are kept.** One process: plain integers on the event loop, read by
``/metrics`` when it is scraped (:meth:`RequestMetrics.collect`); prometheus-client's objects
cost several times more per request. Several processes (``shared``, prometheus-client's
multiprocess mode: hello_async.ops.metrics): also written to prometheus-client's objects, whose
values live in a file per process that ``/metrics`` adds up, and the requests in flight with
them (one process reads its own from hello_async.ops.inflight instead).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Awaitable, Callable, Iterable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from hello_async.web.asgi_types import Message, Send

UNMATCHED = "unmatched"
METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)
OTHER_METHOD = "other"
SERVER_ERROR = 500
CLIENT_LEFT = 499
# Upper bounds: from a sub-millisecond "Hello" to an event stream held for minutes.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = ("hello_async_http_requests", "HTTP requests answered, by method, URL pattern, status.")
DURATIONS = (
    "hello_async_http_request_duration_seconds",
    "Time of an HTTP request, from its arrival to its answer's last message.",
)
IN_FLIGHT = ("hello_async_requests_in_flight", "HTTP requests being served.")


class RequestMetrics(Collector):
    """This process's request counts and durations; ``shared``: written to prometheus-client's
    objects as well (multiprocess mode). Written on the event loop only."""

    def __init__(self, *, shared: bool = False) -> None:
        # Per (method, route, status): a count per bucket (BUCKETS, then +Inf), then the sum of
        # the seconds. One lookup a request; the scrape adds the statuses up for the histogram.
        self._tallies: dict[tuple[str, str, int], list[float]] = {}
        self.in_flight: Gauge | None = None
        # prometheus-client's own objects (shared only), their values in the per-process files.
        self.shared: tuple[Counter, Histogram] | None = None
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        if shared:
            self.in_flight = Gauge(*IN_FLIGHT, multiprocess_mode="livesum", registry=None)
            self.shared = (
                Counter(*REQUESTS, ["method", "route", "status"], registry=None),
                Histogram(*DURATIONS, ["method", "route"], buckets=BUCKETS, registry=None),
            )

    def record(self, exchange: Exchange) -> None:
        """Count ``exchange``'s request, once (it is not counted again)."""
        seconds = time.perf_counter() - exchange.started
        exchange.started = 0.0
        method = exchange.method if exchange.method in METHODS else OTHER_METHOD
        request, exchange.request = exchange.request, None
        match = request.resolver_match if request is not None else None
        route = UNMATCHED if match is None else "/" + match.route
        key = (method, route, exchange.status or CLIENT_LEFT)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = [0] * (len(BUCKETS) + 2)
        tally[bisect.bisect_left(BUCKETS, seconds)] += 1
        tally[-1] += seconds
        if self.shared is not None:
            self._write_shared(key, seconds)

    def _write_shared(self, key: tuple[str, str, int], seconds: float) -> None:
        assert self.shared is not None and self.in_flight is not None
        # No longer in flight once counted: a client that has its answer never finds its own
        # request in flight, whichever process it asks next.
        self.in_flight.dec()
        children = self._children.get(key)
        if children is None:  # labels() checks, converts and locks: once per key (bounded)
            method, route, status = key
            requests, durations = self.shared
            children = (
                requests.labels(method, route, str(status)),
                durations.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def collect(self) -> Iterable[Metric]:
        """The figures as Prometheus metrics (one process; several read the shared files)."""
        requests = CounterMetricFamily(*REQUESTS, labels=["method", "route", "status"])
        per_route: dict[tuple[str, str], list[float]] = {}
        for (method, route, status), tally in list(self._tallies.items()):
            requests.add_metric([method, route, str(status)], sum(tally[:-1]))
            total = per_route.setdefault((method, route), [0] * len(tally))
            for i, value in enumerate(tally):
                total[i] += value
        yield requests
        durations = HistogramMetricFamily(*DURATIONS, labels=["method", "route"])
        bounds = [*(repr(bound) for bound in BUCKETS), "+Inf"]
        for (method, route), total in per_route.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip(bounds, total, strict=False):
                cumulative += count
                buckets.append((bound, cumulative))
            durations.add_metric([method, route], buckets, sum_value=total[-1])
        yield durations


REQUEST_METRICS = RequestMetrics(shared=bool(settings.PROMETHEUS_MULTIPROC_DIR))


class Exchange:
    """One request as the door follows it (its :meth:`send_counting` stands in for the ASGI
    ``send``): the status of its answer, Django's request once there is one."""

    __slots__ = ("metrics", "method", "request", "send", "started", "status")

    def __init__(self, send: Send, metrics: RequestMetrics, method: str) -> None:
        self.send = send
        self.metrics = metrics
        self.method = method
        self.request: HttpRequest | None = None
        self.status = 0
        self.started = time.perf_counter()  # 0.0 once counted

    def send_counting(self, message: Message) -> Awaitable[None]:
        # A function that returns the server's awaitable: no coroutine of its own a message. (A
        # bound method, not ``__call__``: calling an instance looks ``__call__`` up each time.)
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif not message.get("more_body", False) and self.started:  # the answer's last message
            self.metrics.record(self)
        return self.send(message)


SCOPE_KEY = "hello_async.exchange"  # the request's Exchange, in the scope Django's request keeps


GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class RouteMiddleware:
    """Hands Django's request to the request's :class:`Exchange`, which reads the URL pattern
    Django resolved (``request.resolver_match``) when it counts the request.

    It only passes the request on: one call, no coroutine of its own, no thread hop in either
    mode. Without the door (WSGI, Django's test client) there is no one to hand it to.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        exchange = getattr(request, "scope", _NO_SCOPE).get(SCOPE_KEY)  # ASGI requests keep it
        if exchange is not None:
            exchange.request = request
        return self.get_response(request)


_NO_SCOPE: dict[str, object] = {}
