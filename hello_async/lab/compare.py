"""Side-by-side endpoints for the article's claims, measured by the bench and drawn by the lab.

Each pair does the same I/O two ways. ``delay_ms`` (0-5000) asks the upstream to take that
long (``/delay/<seconds>``, which httpbin and the bench's delay server both serve); ``ms``
(0-5000) is a local wait. Invalid parameters get a 400 naming the parameter.

    /compare/sync_call/          sync view, one blocking upstream GET (shared sync client)
    /compare/async_call/         async view, one awaited upstream GET (shared async client)
    /compare/background_call/    async view, the same GET handed to the background; answers at once
    /compare/sequential/         async view, two upstream GETs one after the other
    /compare/gathered/           async view, the same two GETs gathered
    /compare/client_per_call/    the article's pattern: two gathered GETs, a new client each
    /compare/block/              async view that blocks the loop for ``ms`` (time.sleep)
    /compare/nonblock/           async view that waits ``ms`` without blocking (asyncio.sleep)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import httpx
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from hello_async import upstream
from hello_async.jobs import background
from hello_async.web import responses
from hello_async.web.lean import lean_middleware
from hello_async.web.params import int_param

MAX_MS = 5000


def parse_ms(request: HttpRequest, name: str) -> int:
    message = f"{name} must be a whole number of milliseconds, 0 to {MAX_MS}"
    return int_param(request.GET.get(name), default=0, low=0, high=MAX_MS, message=message)


def upstream_path(request: HttpRequest) -> str:
    delay_ms = parse_ms(request, "delay_ms")
    return f"/delay/{delay_ms / 1000:g}" if delay_ms else "/"


@lean_middleware
@require_safe
def sync_call(request: HttpRequest) -> HttpResponse:
    response = upstream.get(upstream_path(request))
    return responses.text(f"sync: {response.status_code}")


@lean_middleware
@require_safe
async def async_call(request: HttpRequest) -> HttpResponse:
    response = await upstream.aget(upstream_path(request))
    return responses.text(f"async: {response.status_code}")


@lean_middleware
@require_safe
async def background_call(request: HttpRequest) -> HttpResponse:
    where = upstream_path(request)
    background.submit(lambda: upstream.aget(where), name="compare_background_call")
    return responses.text("background: queued")


@lean_middleware
@require_safe
async def sequential(request: HttpRequest) -> HttpResponse:
    where = upstream_path(request)
    first = await upstream.aget(where)
    second = await upstream.aget(where)
    return responses.text(f"sequential: {first.status_code} {second.status_code}")


async def agather_both[T](
    first: Coroutine[Any, Any, T], second: Coroutine[Any, Any, T]
) -> tuple[T, T]:
    """``asyncio.gather`` of two calls, as a TaskGroup: when one fails the other is cancelled
    instead of running on after the response with nobody waiting for it."""
    try:
        async with asyncio.TaskGroup() as group:
            one, two = group.create_task(first), group.create_task(second)
    except ExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 (keeps its own __cause__)
    return one.result(), two.result()


@lean_middleware
@require_safe
async def gathered(request: HttpRequest) -> HttpResponse:
    where = upstream_path(request)
    first, second = await agather_both(upstream.aget(where), upstream.aget(where))
    return responses.text(f"gathered: {first.status_code} {second.status_code}")


async def _aget_with_own_client(where: str) -> int:
    # The article's pattern, kept for comparison only: a client (and a connection pool, and
    # a connection) per call; made as every client of the upstream is (the response limits,
    # no cookie jar, the process's SSL context). Errors still go through the shared translation.
    base = upstream.get_upstream()
    try:
        async with (
            asyncio.timeout(base.timeout),
            base.new_async_client() as client,
        ):
            response = await client.get(where)
    except TimeoutError as exc:
        raise upstream.translate(httpx.TimeoutException("total deadline"), url=where) from exc
    except upstream.CALL_ERRORS as exc:
        raise upstream.translate(exc, url=where) from exc
    return upstream.check_status(response).status_code


@lean_middleware
@require_safe
async def client_per_call(request: HttpRequest) -> HttpResponse:
    where = upstream_path(request)
    first, second = await agather_both(_aget_with_own_client(where), _aget_with_own_client(where))
    return responses.text(f"client per call: {first} {second}")


@lean_middleware
@require_safe
async def block(request: HttpRequest) -> HttpResponse:
    ms = parse_ms(request, "ms")
    time.sleep(ms / 1000)  # noqa: ASYNC251 (blocks the event loop: the anti-pattern, on purpose)
    return responses.text(f"blocked the loop for {ms} ms")


@lean_middleware
@require_safe
async def nonblock(request: HttpRequest) -> HttpResponse:
    ms = parse_ms(request, "ms")
    await asyncio.sleep(ms / 1000)
    return responses.text(f"waited {ms} ms without blocking")


urlpatterns = [
    path("sync_call/", sync_call, name="compare-sync-call"),
    path("async_call/", async_call, name="compare-async-call"),
    path("background_call/", background_call, name="compare-background-call"),
    path("sequential/", sequential, name="compare-sequential"),
    path("gathered/", gathered, name="compare-gathered"),
    path("client_per_call/", client_per_call, name="compare-client-per-call"),
    path("block/", block, name="compare-block"),
    path("nonblock/", nonblock, name="compare-nonblock"),
]
