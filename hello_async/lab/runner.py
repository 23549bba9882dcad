"""The lab's experiment runner: fire N concurrent requests at each side of a preset, time them.

A run is bounded: one at a time per process (:class:`ExperimentRunning`, 409, otherwise), at most
``MAX_CONCURRENCY`` requests in flight, and an overall deadline (``DEADLINE`` seconds) after
which the requests still in flight are cancelled and the result is flagged ``partial``.

The requests go to the server itself: to the address it is listening on (taken from the ASGI
scope, never from the request's headers), with the request's already validated ``Host`` so that
``ALLOWED_HOSTS`` accepts them. The sides run one after the other, each with a client of its
own: both start from an empty connection pool, so neither inherits the other's warm
connections. A side's client lives for the whole side, so its connections are reused from
request to request.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.http import HttpRequest
from django.utils.translation import gettext as _

from hello_async.errors import HelloAsyncError
from hello_async.lab.presets import MAX_CONCURRENCY, Preset, Side
from hello_async.upstream.transport import Http11Transport

DEADLINE = 30.0

TransportFactory = Callable[[httpx.Limits], httpx.AsyncBaseTransport]


class ExperimentRunning(HelloAsyncError):
    status_code = 409


# --- where the requests go ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    base_url: str
    headers: dict[str, str]


_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def target_from_request(request: HttpRequest) -> Target:
    """The server's own address (from the ASGI scope or WSGI environ), never a user's URL."""
    host = str(request.META.get("SERVER_NAME", ""))
    host = _ANY_ADDRESS.get(host, host)
    port = str(request.META.get("SERVER_PORT", "80"))
    if ":" in host:
        host = f"[{host}]"
    headers = {
        # get_host() has been checked against ALLOWED_HOSTS by now.
        "Host": request.get_host(),
        # Behind a TLS-terminating proxy the server trusts this header (SECURE_PROXY_SSL_HEADER):
        # without it, SECURE_SSL_REDIRECT would answer each request with a redirect.
        "X-Forwarded-Proto": request.scheme or "http",
    }
    return Target(base_url=f"http://{host}:{port}", headers=headers)


# --- results -------------------------------------------------------------------------------------


@dataclass
class Timing:
    """One request, in seconds from its side's start; ``end`` is None if it never finished."""

    start: float = 0.0
    end: float | None = None
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class SideResult:
    side: Side
    timings: list[Timing]

    @property
    def finished(self) -> list[Timing]:
        return [t for t in self.timings if t.end is not None]

    @property
    def ok(self) -> list[Timing]:
        return [t for t in self.timings if t.ok]

    @property
    def span(self) -> float | None:
        """From the first request's start to the last finished request's end."""
        ends = [t.end for t in self.timings if t.end is not None]
        if not ends:
            return None
        return max(ends) - min(t.start for t in self.timings)

    @property
    def rps(self) -> float | None:
        span = self.span
        return len(self.ok) / span if span else None

    def latency_percentile(self, p: float) -> float | None:
        return percentile([t.end - t.start for t in self.ok if t.end is not None], p)

    def as_json(self) -> dict[str, Any]:
        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 3)

        return {
            "key": self.side.key,
            "label": str(self.side.label),
            "path": self.side.path,
            "fired": len(self.timings),
            "finished": len(self.finished),
            "errors": len(self.finished) - len(self.ok),
            "span_ms": ms(self.span),
            "rps": None if self.rps is None else round(self.rps, 2),
            "p50_ms": ms(self.latency_percentile(50)),
            "p99_ms": ms(self.latency_percentile(99)),
            "requests": [
                {
                    "start_ms": ms(t.start),
                    "end_ms": ms(t.end),
                    "status": t.status,
                    **({"error": t.error} if t.error else {}),
                }
                for t in self.timings
            ],
        }


@dataclass(frozen=True)
class Result:
    preset: Preset
    concurrency: int
    sides: list[SideResult]
    partial: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "preset": self.preset.key,
            "concurrency": self.concurrency,
            "partial": self.partial,
            "deadline_s": DEADLINE,
            "sides": [side.as_json() for side in self.sides],
        }


@dataclass
class Progress:
    preset: str
    concurrency: int
    done: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})

    def as_json(self) -> dict[str, Any]:
        return {
            "running": True,
            "preset": self.preset,
            "concurrency": self.concurrency,
            "done": dict(self.done),
            "total": {"a": self.concurrency, "b": self.concurrency},
        }


# --- the runner ----------------------------------------------------------------------------------


def _http11_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    return Http11Transport(limits=limits)


class Lab:
    """Runs experiments, one at a time per process; tests pass an ``httpx.MockTransport``."""

    def __init__(
        self, *, transport: TransportFactory | None = None, deadline: float = DEADLINE
    ) -> None:
        self._transport = transport or _http11_transport
        self.deadline = deadline
        # A threading lock, not an asyncio one: under WSGI or a test client each request has
        # a loop of its own, and "one at a time" must still hold.
        self._lock = threading.Lock()
        self._progress: Progress | None = None

    def status(self) -> dict[str, Any]:
        progress = self._progress
        return progress.as_json() if progress is not None else {"running": False}

    @contextmanager
    def _exclusive(self, progress: Progress) -> Iterator[None]:
        if not self._lock.acquire(blocking=False):
            raise ExperimentRunning(_("An experiment is already running; try again when it ends."))
        self._progress = progress
        try:
            yield
        finally:
            self._progress = None
            self._lock.release()

    async def arun(self, *, preset: Preset, concurrency: int, target: Target) -> Result:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency {concurrency} out of range")  # views validate first
        progress = Progress(preset=preset.key, concurrency=concurrency)
        with self._exclusive(progress):
            loop = asyncio.get_running_loop()
            deadline_at = loop.time() + self.deadline
            sides = []
            partial = False
            for side in preset.sides:
                result, finished = await self._arun_side(
                    side, concurrency=concurrency, target=target, deadline_at=deadline_at
                )
                sides.append(result)
                partial = partial or not finished
            return Result(preset=preset, concurrency=concurrency, sides=sides, partial=partial)

    async def _arun_side(
        self, side: Side, *, concurrency: int, target: Target, deadline_at: float
    ) -> tuple[SideResult, bool]:
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline_at:  # the first side used up the time: fire nothing
            return SideResult(side=side, timings=[]), False
        timings = [Timing() for _ in range(concurrency)]
        progress = self._progress
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(
            base_url=target.base_url,
            headers=target.headers,
            transport=self._transport(limits),
            timeout=httpx.Timeout(self.deadline),
            follow_redirects=False,
            trust_env=False,
        )
        # perf_counter, not loop.time(): uvloop's clock moves in whole milliseconds.
        started = time.perf_counter()

        async def one(timing: Timing) -> None:
            timing.start = time.perf_counter() - started
            try:
                response = await client.get(side.path)
            # One failed request must not end the experiment: it is drawn as a failure.
            except Exception as exc:
                timing.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                timing.status = response.status_code
            timing.end = time.perf_counter() - started
            if progress is not None:
                progress.done[side.key] += 1

        finished = True
        async with client:
            try:
                async with asyncio.timeout_at(deadline_at), asyncio.TaskGroup() as group:
                    for timing in timings:
                        group.create_task(one(timing))
            except TimeoutError:
                finished = False
        return SideResult(side=side, timings=timings), finished


# --- the process's instance ----------------------------------------------------------------------

_lab = Lab()


def get_lab() -> Lab:
    return _lab


async def experiment_arun(*, preset: Preset, concurrency: int, target: Target) -> Result:
    return await _lab.arun(preset=preset, concurrency=concurrency, target=target)
