"""Upstream faults: every upstream-using view answers 502/504 within its deadline plus 0.5 s, the
pool recovers within 1 s of the fault clearing, and no task or connection is left behind.

The faults come from tests.support.faultproxy, between the service and a real local httpbin. The
deadline bound is the issue's correctness requirement, so it is asserted; nothing else is timed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from django.test import AsyncClient

from hello_async import upstream
from hello_async.jobs import background
from hello_async.ops import lifespan
from tests.support.faultproxy import (
    Blackhole,
    Drip,
    FaultProxy,
    Latency,
    Mode,
    Pass,
    Refuse,
    ResetAfter,
)
from tests.support.parts import using_upstream
from tests.support.servers import Process

DEADLINE = 1.0  # UPSTREAM_TIMEOUT for these tests
SLACK = 0.5  # the bound: deadline + 0.5 s
RECOVERY = 1.0  # requests succeed within 1 s of the fault clearing
POOL = 4  # UPSTREAM_MAX_CONNECTIONS of the server under test

FAULTS: dict[str, tuple[Mode, int, str]] = {
    # name: (mode, status, start of the body)
    "latency": (Latency(ms=3000), 504, "Upstream timed out"),
    "drip": (Drip(per_second=4), 504, "Upstream timed out"),
    "reset": (ResetAfter(n=64), 502, "Upstream connection failed"),
    "blackhole": (Blackhole(), 504, "Upstream timed out"),
    "refuse": (Refuse(), 502, "Upstream refused the connection"),
}

# Every view that calls the upstream, with its method and its body when the upstream is fine.
VIEWS: dict[str, tuple[str, str]] = {
    "/smoke_some_meats/": ("GET", "Smoked 6 meats with "),
    "/sync/": ("GET", "Blocking HTTP request"),
    "/compare/async_call/": ("GET", "async: 200"),
    "/compare/sync_call/": ("GET", "sync: 200"),
    "/compare/gathered/": ("GET", "gathered: 200 200"),
    "/compare/sequential/": ("GET", "sequential: 200 200"),
    "/smoke_runs/": ("POST", '{"id": '),
}


@pytest.fixture(scope="module")
def proxy(httpbin_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(httpbin_url) as fault_proxy:
        yield fault_proxy


# --- the real server: Uvicorn in a subprocess, its upstream behind the proxy ---------------------


@pytest.fixture(scope="module")
def server(proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("faults") / "db.sqlite3"
    process = Process(
        [sys.executable, "-m", "hello_async.cli", "serve", "--port", "0"],
        env={
            "UPSTREAM_URL": proxy.url,
            "UPSTREAM_TIMEOUT": str(DEADLINE),
            # A small pool, so that a connection leaked by a fault would soon exhaust it.
            "UPSTREAM_MAX_CONNECTIONS": str(POOL),
            "HELLO_ASYNC_TIME_SCALE": "0",
            "DATABASE_URL": f"sqlite:///{database}",
        },
    )
    try:
        url = process.wait_for(r"Uvicorn running on (http://\S+)").group(1)
        yield url
    finally:
        process.terminate()


@pytest.mark.server
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("path", list(VIEWS))
def test_fault_gives_502_or_504_within_the_deadline_then_recovers(
    server: str, proxy: FaultProxy, path: str, fault: str
) -> None:
    mode, status, cause = FAULTS[fault]
    method, ok_body = VIEWS[path]
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.request(method, path).text.startswith(ok_body)  # a pooled connection
        before = proxy.counts()
        proxy.set(mode)
        try:
            started = time.monotonic()
            response = client.request(method, path)
            elapsed = time.monotonic() - started
            assert response.status_code == status, response.text
            assert response.text.startswith(cause)
            assert response.text.count("\n") == 1
            assert elapsed <= DEADLINE + SLACK
            # The faulted connections were closed, not left open in the pool.
            proxy.wait_until(lambda now: now.client_open <= before.client_open)
        finally:
            proxy.set(Pass())
        cleared = time.monotonic()
        response = client.request(method, path)
        recovered = time.monotonic() - cleared
        print(f"FIGURE {fault} {path} {status} {elapsed:.3f} {recovered:.3f}")
        assert response.text.startswith(ok_body), response.text
        assert recovered <= RECOVERY


@pytest.mark.server
@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["latency", "drip", "blackhole"])
async def test_fault_on_more_calls_than_the_pool_holds_does_not_exhaust_it(
    server: str, proxy: FaultProxy, fault: str
) -> None:
    mode, status, _ = FAULTS[fault]
    requests = 3 * POOL  # gathered: two upstream calls each, six times the pool
    limits = httpx.Limits(max_connections=requests)
    async with httpx.AsyncClient(base_url=server, timeout=30, limits=limits) as client:

        async def timed_get() -> tuple[int, float]:
            started = time.monotonic()
            response = await client.get("/compare/gathered/")
            return response.status_code, time.monotonic() - started

        before = proxy.counts()
        proxy.set(mode)
        try:
            answers = await asyncio.gather(*(timed_get() for _ in range(requests)))
        finally:
            proxy.set(Pass())
        cleared = time.monotonic()
        recovered = await asyncio.gather(*(timed_get() for _ in range(requests)))
        recovery = time.monotonic() - cleared
    # Calls queued for a connection count against the same deadline.
    assert [code for code, _ in answers] == [status] * requests
    assert max(elapsed for _, elapsed in answers) <= DEADLINE + SLACK
    assert [code for code, _ in recovered] == [200] * requests
    assert recovery <= RECOVERY
    await asyncio.to_thread(
        proxy.wait_until, lambda now: now.client_open <= max(before.client_open, POOL)
    )


# --- in process: the serving loop's tasks and the background owner ----------------------------


@pytest_asyncio.fixture
async def proxied_serving(
    proxy: FaultProxy, owner: background.BackgroundWork
) -> AsyncIterator[background.BackgroundWork]:
    """The ASGI lifespan on the test's loop, with a real upstream client behind the proxy."""
    with using_upstream(upstream.Upstream(base_url=proxy.url, timeout=DEADLINE)):
        await lifespan.astartup()
        try:
            yield owner
        finally:
            await lifespan.ashutdown()
    # The client is closed: no connection to the proxy is left.
    proxy.wait_until(lambda now: now.client_open == 0)


ASYNC_VIEWS = [
    "/smoke_some_meats/",
    "/compare/async_call/",
    "/compare/gathered/",
    "/compare/sequential/",
]


async def get(path: str) -> tuple[str, int, str]:
    response = await AsyncClient().get(path)
    return path, response.status_code, response.content.decode()


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_leaves_no_task_and_no_pending_work(
    proxied_serving: background.BackgroundWork, proxy: FaultProxy, fault: str
) -> None:
    mode, status, cause = FAULTS[fault]
    owner = proxied_serving
    await AsyncClient().get("/compare/gathered/")  # the pool holds connections
    tasks_before = asyncio.all_tasks()
    proxy.set(mode)
    try:
        await AsyncClient().get("/async/")  # background work that meets the fault
        answers = await asyncio.gather(*(get(path) for path in ASYNC_VIEWS))
        await owner.await_idle()
    finally:
        proxy.set(Pass())

    # The deadline bound is the real server's test (above); here the counts are the point.
    for path, code, body in answers:
        assert (code, body.splitlines()[0][: len(cause)]) == (status, cause), path
    assert owner.counts().as_dict() == {"pending": 0, "done": 0, "failed": 1, "cancelled": 0}
    assert asyncio.all_tasks() == tasks_before
    answers = await asyncio.gather(*(get(path) for path in ASYNC_VIEWS))
    assert [code for _, code, _ in answers] == [200] * len(ASYNC_VIEWS)
    assert asyncio.all_tasks() == tasks_before


def test_proxy_counts_a_request_its_client_abandons(proxy: FaultProxy) -> None:
    """The proxy's own check: a blackholed request that times out is counted as abandoned."""
    before = proxy.counts()
    proxy.set(Blackhole())
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(proxy.url + "/", timeout=0.2)
    finally:
        proxy.set(Pass())
    proxy.wait_until(
        lambda now: now.abandoned == before.abandoned + 1 and now.client_open == before.client_open
    )
    assert httpx.get(proxy.url + "/", timeout=5).status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/smoke_some_meats/", "/compare/gathered/"])
async def test_one_failing_call_of_a_fan_out_cancels_the_other(
    owner: background.BackgroundWork, path: str
) -> None:
    """The first upstream call is reset at once, the second never answers: the view answers 502
    and its second call is cancelled with it, not left running with nobody waiting."""
    calls: list[httpx.Request] = []
    hanging = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            await hanging.wait()  # until the other call has started
            raise httpx.ReadError("Connection reset by peer", request=request)
        hanging.set()
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    client = upstream.Upstream(
        base_url="http://upstream.test",
        timeout=60,
        async_transport=lambda: httpx.MockTransport(handler),
    )
    with using_upstream(client):
        await lifespan.astartup()
        try:
            tasks_before = asyncio.all_tasks()
            response = await AsyncClient().get(path)
            assert response.status_code == 502
            assert len(calls) == 2
            assert asyncio.all_tasks() == tasks_before
        finally:
            await lifespan.ashutdown()
