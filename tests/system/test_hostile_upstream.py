"""A hostile upstream (tests/support/hostile.py) against every client path, then against the real
server.

In process: each case through the async client on both transports and through the sync client,
each a 502 (UpstreamBadResponse) within 2 s. Then a real Uvicorn worker in production mode
(``UPSTREAM_TIMEOUT=8``), per case 16 concurrent ``/smoke_some_meats/`` and 4 ``/sync/``: all
502 within 2 s, the worker's RSS within 150 MB of where it started, ``/`` answering in under a
second throughout, and no loop stall over 100 ms (the loop monitor's counter in ``/metrics``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hello_async import upstream
from hello_async.errors import UpstreamBadResponse
from tests.support.hostile import NAMES, Bombs, HostileUpstream
from tests.support.servers import Process, uvicorn_server
from tests.test_settings import STRONG_KEY


@pytest.fixture(scope="session")
def bombs() -> Bombs:
    return Bombs()


@pytest.fixture(scope="module")
def hostile(bombs: Bombs) -> Iterator[HostileUpstream]:
    with HostileUpstream(bombs) as server:
        yield server


def client_of(hostile: HostileUpstream) -> upstream.Upstream:
    return upstream.Upstream(base_url=hostile.url, timeout=8.0, max_connections=8)


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["http11", "aiohttp"])
@pytest.mark.parametrize("case", NAMES)
async def test_async_client_refuses_each_case_within_2_s(
    hostile: HostileUpstream, settings: Any, transport: str, case: str
) -> None:
    settings.UPSTREAM_TRANSPORT = transport
    hostile.set(case)
    client = client_of(hostile)
    await client.astart()
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamBadResponse) as refused:
            await client.aget("/")
        assert time.monotonic() - started < 2.0
        assert refused.value.status_code == 502
    finally:
        await client.aclose()


@pytest.mark.parametrize("case", NAMES)
def test_sync_client_refuses_each_case_within_2_s(hostile: HostileUpstream, case: str) -> None:
    hostile.set(case)
    client = client_of(hostile)
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamBadResponse):
            client.get("/")
        assert time.monotonic() - started < 2.0
    finally:
        client.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["endless_headers", "endless_interim_answers"])
async def test_every_path_refuses_endless_head_lines_at_the_line_limit(
    hostile: HostileUpstream, settings: Any, case: str
) -> None:
    """Not at the byte limit: 64 KiB of interim answers is 1,600 heads for h11 to parse in
    Python, 35 ms of CPU a sync call with the GIL held. (aiohttp's own parser refuses the
    endless lines of one head first, with a bare "400": a 502 at once all the same.)"""
    hostile.set(case)
    refusals = []
    for transport in ("http11", "aiohttp") if case != "endless_headers" else ("http11",):
        settings.UPSTREAM_TRANSPORT = transport
        client = client_of(hostile)
        await client.astart()
        try:
            with pytest.raises(UpstreamBadResponse) as refused:
                await client.aget("/")
            refusals.append(str(refused.value))
        finally:
            await client.aclose()
    client = client_of(hostile)
    try:
        with pytest.raises(UpstreamBadResponse) as refused:
            await asyncio.to_thread(client.get, "/")
        refusals.append(str(refused.value))
    finally:
        client.close()
    for refusal in refusals:
        assert "(UPSTREAM_MAX_HEADERS)" in refusal, refusal


# --- the real server under attack ----------------------------------------------------------------

TOKEN = "hostile-metrics-token"
SMOKERS, SYNCERS = 16, 4


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module", params=["http11", "aiohttp"])
def attacked(
    request: pytest.FixtureRequest, hostile: HostileUpstream
) -> Iterator[tuple[Process, str]]:
    """One Uvicorn worker in production mode whose upstream is the hostile one."""
    env = {
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "UPSTREAM_URL": hostile.url,
        "UPSTREAM_TIMEOUT": "8",
        "UPSTREAM_TRANSPORT": request.param,
        "HELLO_ASYNC_TIME_SCALE": "0",
        "HELLO_ASYNC_METRICS_TOKEN": TOKEN,
        "HELLO_ASYNC_SERVE_TASK_WORKERS": "0",
    }
    process, url = uvicorn_server(env)
    try:
        yield process, url
    finally:
        process.terminate()


async def stalls(http: httpx.AsyncClient) -> int:
    metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 200
    for line in metrics.text.splitlines():
        if line.startswith("hello_async_loop_stalls_total "):
            return int(float(line.split()[1]))
    raise AssertionError("no hello_async_loop_stalls_total in /metrics")


@pytest.mark.server
@pytest.mark.asyncio
@pytest.mark.parametrize("case", NAMES)
async def test_under_attack_every_call_is_a_502_within_2_s_and_the_worker_stays_well(
    attacked: tuple[Process, str], hostile: HostileUpstream, case: str
) -> None:
    process, url = attacked
    hostile.set(case)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        assert (await http.get("/")).status_code == 200
        stalls_before = await stalls(http)
        rss_before = rss_mb(process.popen.pid)
        attack_over = asyncio.Event()
        probe_ms: list[float] = []

        async def probe() -> None:  # "/" beside the attack, about every 20 ms
            while not attack_over.is_set():
                started = time.monotonic()
                assert (await http.get("/")).text == "Hello, async Django!"
                probe_ms.append((time.monotonic() - started) * 1000)
                await asyncio.sleep(0.02)

        async def call(path: str) -> tuple[int, float, str]:
            started = time.monotonic()
            response = await http.get(path)
            return response.status_code, time.monotonic() - started, response.text

        prober = asyncio.create_task(probe())
        paths = ["/smoke_some_meats/"] * SMOKERS + ["/sync/"] * SYNCERS
        answers = await asyncio.gather(*(call(path) for path in paths))
        attack_over.set()
        await prober
        rss_after = rss_mb(process.popen.pid)

        slowest = max(seconds for _, seconds, _ in answers)
        print(  # the figures of docs/reliability.md (pytest -s)
            f"\n{case}: slowest 502 {slowest * 1000:.0f} ms, RSS {rss_after - rss_before:+.1f} MB,"
            f" / at most {max(probe_ms):.0f} ms over {len(probe_ms)} probes"
        )
        assert {status for status, _, _ in answers} == {502}, answers[:3]
        assert slowest < 2.0
        assert all(text.startswith("Upstream") and text.count("\n") == 1 for *_, text in answers)
        assert rss_after - rss_before < 150, f"RSS {rss_before:.0f} -> {rss_after:.0f} MB"
        assert probe_ms and max(probe_ms) < 1000, probe_ms
        stalled = [line for line in process.output().splitlines() if "stall" in line]
        assert await stalls(http) == stalls_before, stalled
