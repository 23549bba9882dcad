"""No async view makes a blocking call on the event loop (blockbuster), except the two that
block on purpose: /burn_some_meats/ and /compare/block/ (and the test proves it sees those).

blockbuster patches blocking functions (time.sleep, socket and file I/O, sqlite3, contended
locks...) to raise BlockingError when called *on a thread running an event loop*. Django's
sync_to_async hops run in worker threads, which it leaves alone, so the sync middleware and the
thread-sensitive ORM calls are allowed as they should be.
"""

from __future__ import annotations

import logging

import pytest
from blockbuster import BlockingError, blockbuster_ctx
from django.test import AsyncClient

from hello_async import upstream

ASYNC_VIEWS = [
    ("GET", "/"),
    ("GET", "/async/"),
    ("GET", "/sync_to_async/"),
    ("GET", "/smoke_some_meats/"),
    ("GET", "/smoke_runs/"),
    ("POST", "/smoke_runs/"),
    ("GET", "/compare/async_call/"),
    ("GET", "/compare/sequential/"),
    ("GET", "/compare/gathered/"),
    ("GET", "/compare/nonblock/?ms=1"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/lab/"),
    ("GET", "/lab/status/"),
]


async def call(client: AsyncClient, method: str, path: str) -> int:
    response = await (client.post(path) if method == "POST" else client.get(path))
    return response.status_code


def blocking_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """BlockingErrors that Django logged with a 500 or the background owner logged."""
    found = []
    for record in caplog.records:
        if record.exc_info and isinstance(record.exc_info[1], BlockingError):
            found.append(f"{record.name}: {record.exc_info[1]}")
    return found


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path"), ASYNC_VIEWS)
async def test_async_view_makes_no_blocking_call_on_the_loop(
    serving, fake_upstream, time_scale, caplog: pytest.LogCaptureFixture, method: str, path: str
) -> None:
    time_scale(0.001)  # real (tiny) waits: a time.sleep would be caught, asyncio.sleep not
    caplog.set_level(logging.INFO)
    # Warm up outside blockbuster: a first request loads the middleware chain (once per
    # handler, at server start under Uvicorn), imports modules and reads templates from disk
    # (once per process: Django's cached template loader). Start-up cost, not per request.
    client = AsyncClient()
    await call(client, "GET", path)
    await serving.await_idle()
    caplog.clear()

    with blockbuster_ctx():
        status = await call(client, method, path)
        await serving.await_idle()  # background work runs on the loop too: check it
    assert blocking_errors(caplog) == []
    assert status < 500
    assert serving.counts().failed == 0


@pytest.mark.asyncio
async def test_client_per_call_makes_no_blocking_call_on_the_loop(
    serving, httpbin_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """It builds clients of its own, past the fake transport: a real (local) httpbin answers."""
    previous = upstream.set_upstream(upstream.Upstream(base_url=httpbin_url))
    try:
        client = AsyncClient()
        await call(client, "GET", "/compare/client_per_call/")
        with blockbuster_ctx():
            status = await call(client, "GET", "/compare/client_per_call/")
    finally:
        upstream.set_upstream(previous).close()
    assert blocking_errors(caplog) == []
    assert status == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/burn_some_meats/", "/compare/block/?ms=1"])
async def test_the_blocking_views_are_caught(serving, time_scale, path: str) -> None:
    time_scale(0.001)
    client = AsyncClient()
    await call(client, "GET", "/")  # load the middleware chain outside blockbuster
    # Django's test client re-raises a view's exception instead of answering 500.
    with blockbuster_ctx(), pytest.raises(BlockingError, match="time.sleep"):
        await call(client, "GET", path)
