"""No async view makes a blocking call on the event loop (blockbuster), except the two that
block on purpose: /burn_some_meats/ and /compare/block/ (and the test proves it sees those).

blockbuster patches blocking functions (time.sleep, socket and file I/O, sqlite3, contended
locks...) to raise BlockingError when called *on a thread running an event loop*. Django's
sync_to_async hops run in worker threads, which it leaves alone, so the sync middleware and the
thread-sensitive ORM calls are allowed as they should be.
"""

from __future__ import annotations

import json
import logging

import pytest
from blockbuster import BlockingError, blockbuster_ctx
from django.test import AsyncClient

from hello_async import upstream
from hello_async.lab.presets import PRESETS
from tests.support.endpoints import async_endpoints
from tests.support.parts import using_upstream

BLOCKING_ON_PURPOSE = {"/burn_some_meats/", "/compare/block/"}
OWN_CLIENTS = {"/compare/client_per_call/"}  # past the fake transport: tested on its own below
LAB_RUN = json.dumps({"preset": next(iter(PRESETS)), "concurrency": 3}).encode()

# Every async view of the URLconf (so a new one is covered without editing this list) by GET,
# plus the ones that do their work on POST.
ASYNC_VIEWS = [
    ("GET", path, b"")
    for path in async_endpoints()
    if path not in BLOCKING_ON_PURPOSE | OWN_CLIENTS
] + [("POST", "/smoke_runs/", b""), ("POST", "/lab/run/", LAB_RUN)]


async def call(client: AsyncClient, method: str, path: str, body: bytes = b"") -> int:
    if method == "POST":
        response = await client.post(path, body, content_type="application/json")
    else:
        response = await client.get(path)
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
@pytest.mark.usefixtures("quick_lab")
@pytest.mark.parametrize(("method", "path", "body"), ASYNC_VIEWS)
async def test_async_view_makes_no_blocking_call_on_the_loop(
    serving,
    fake_upstream,
    time_scale,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: bytes,
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
        status = await call(client, method, path, body)
        await serving.await_idle()  # background work runs on the loop too: check it
    assert blocking_errors(caplog) == []
    assert status < 500
    assert serving.counts().failed == 0


@pytest.mark.asyncio
async def test_client_per_call_makes_no_blocking_call_on_the_loop(
    serving, httpbin_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """It builds clients of its own, past the fake transport: a real (local) httpbin answers."""
    with using_upstream(upstream.Upstream(base_url=httpbin_url)):
        client = AsyncClient()
        await call(client, "GET", "/compare/client_per_call/")
        with blockbuster_ctx():
            status = await call(client, "GET", "/compare/client_per_call/")
    assert blocking_errors(caplog) == []
    assert status == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("path", sorted(BLOCKING_ON_PURPOSE))
async def test_the_blocking_views_are_caught(serving, time_scale, path: str) -> None:
    time_scale(0.001)
    client = AsyncClient()
    await call(client, "GET", "/")  # load the middleware chain outside blockbuster
    # Django's test client re-raises a view's exception instead of answering 500.
    with blockbuster_ctx(), pytest.raises(BlockingError, match="time.sleep"):
        await call(client, "GET", path)
