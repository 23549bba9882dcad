"""HELLO_ASYNC_FASTPATH: both modes serve the article's views alike; only the threads differ.

Two real Uvicorn servers side by side, one per mode (whatever mode the suite itself runs in):
the same bodies and statuses for every seed view; under concurrent fan-out load the stock mode
shows Django's thread per request, the fast path none.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server

SEED = {
    "/": "Hello, async Django!",
    "/async/": "Non-blocking HTTP request",
    "/sync/": "Blocking HTTP request",
    "/sync_to_async/": "Non-blocking HTTP request (via sync_to_async)",
    "/burn_some_meats/": "Burned some meats.",
}


@pytest.fixture(scope="module", params=["1", "0"], ids=["fastpath", "stock"])
def served(request: pytest.FixtureRequest, httpbin_url: str) -> Iterator[tuple[str, Process, str]]:
    env = {
        "HELLO_ASYNC_FASTPATH": request.param,
        "UPSTREAM_URL": httpbin_url,
        "HELLO_ASYNC_TIME_SCALE": "0.01",
        # Upstream calls that take a while, so requests overlap under load.
        "UPSTREAM_MAX_CONNECTIONS": "200",
    }
    process, url = uvicorn_server(env)
    try:
        yield request.param, process, url
    finally:
        process.terminate()


def test_every_seed_view_answers_the_same_in_both_modes(
    served: tuple[str, Process, str],
) -> None:
    _, _, url = served
    for path, body in SEED.items():
        response = httpx.get(url + path, timeout=30)
        assert (response.status_code, response.text) == (200, body), path
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    smoked = httpx.get(url + "/smoke_some_meats/", timeout=30)
    assert smoked.status_code == 200 and smoked.text.startswith("Smoked 6 meats with ")


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_under_load_stock_django_adds_a_thread_per_request_the_fast_path_none(
    served: tuple[str, Process, str],
) -> None:
    mode, process, url = served
    pid = process.popen.pid
    before = threads(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, threads(pid))

    async def load() -> None:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            # /delay/<s> keeps each request (two gathered calls) in flight for a while.
            answers = await asyncio.gather(
                *(http.get("/compare/gathered/?delay_ms=300") for _ in range(100))
            )
        assert {answer.status_code for answer in answers} == {200}

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        asyncio.run(load())
    finally:
        done.set()
        sampler.join()
    if mode == "1":
        assert peak - before <= 3, f"{before} -> {peak} threads"
    else:
        assert peak - before >= 30, f"{before} -> {peak} threads"
