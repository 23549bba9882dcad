"""A hostile upstream (tests/support/hostile.py) against every client path, then against the real
server.

In process: each case through every client the project makes (the async client on both
transports, the sync client, the lab's client per call), each a 502 (UpstreamBadResponse) within
2 s whose message names the limit that refused it (hostile.REFUSED_BY): a limit that gave way
to another one further on would still give a 502. An upstream setting cookies: none is sent
back. Then a real Uvicorn worker in production mode (``UPSTREAM_TIMEOUT=8``, the lab on), per
case 16 concurrent ``/smoke_some_meats/``, 4 ``/sync/`` and 4 ``/compare/client_per_call/``:
all 502 within 2 s saying only what failed, the log naming the limit, the worker's RSS within
150 MB of where it started, ``/`` answering in under a second throughout, and no loop stall
over 100 ms (the loop monitor's counter in ``/metrics``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hello_async import upstream
from hello_async.errors import UpstreamBadResponse
from hello_async.lab import compare
from tests.support.hostile import NAMES, REFUSED, REFUSED_BY, Bombs, HostileUpstream
from tests.support.parts import using_upstream
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


# Each case, through each client the project makes for the upstream. Every path counts an
# answer's heads by line before their bytes: 64 KiB of interim answers is 1,600 heads for h11
# to parse in Python, 35 ms of CPU a sync call with the GIL held.


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["http11", "aiohttp"])
@pytest.mark.parametrize("case", REFUSED)
async def test_async_client_refuses_each_case_within_2_s_naming_the_limit(
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
        assert re.search(REFUSED_BY[case], str(refused.value)), refused.value
    finally:
        await client.aclose()


@pytest.mark.parametrize("case", REFUSED)
def test_sync_client_refuses_each_case_within_2_s_naming_the_limit(
    hostile: HostileUpstream, case: str
) -> None:
    hostile.set(case)
    client = client_of(hostile)
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamBadResponse) as refused:
            client.get("/")
        assert time.monotonic() - started < 2.0
        assert re.search(REFUSED_BY[case], str(refused.value)), refused.value
    finally:
        client.close()


@pytest.fixture
def installed(hostile: HostileUpstream) -> Iterator[upstream.Upstream]:
    """The hostile upstream as the process's (the lab's views call it)."""
    with using_upstream(client_of(hostile)) as client:
        yield client


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["http11", "aiohttp"])
@pytest.mark.parametrize("case", REFUSED)
async def test_the_labs_client_per_call_refuses_each_case_naming_the_limit(
    hostile: HostileUpstream, installed: upstream.Upstream, settings: Any, transport: str, case: str
) -> None:
    """/compare/client_per_call/ makes a client per call: it took RSS +570 MB on a deflate bomb
    when those were plain ``httpx.AsyncClient``s."""
    settings.UPSTREAM_TRANSPORT = transport
    hostile.set(case)
    started = time.monotonic()
    with pytest.raises(UpstreamBadResponse) as refused:
        await compare._aget_with_own_client("/")
    assert time.monotonic() - started < 2.0
    assert re.search(REFUSED_BY[case], str(refused.value)), refused.value


@pytest.mark.asyncio
@pytest.mark.parametrize("client", ["http11", "aiohttp", "one-off", "sync", "client per call"])
async def test_no_client_sends_back_the_cookies_an_upstream_set(
    hostile: HostileUpstream, installed: upstream.Upstream, settings: Any, client: str
) -> None:
    """50 new 1 KiB cookies per answer: kept, the 60th call's Cookie header was 5.9 MB."""
    settings.UPSTREAM_TRANSPORT = "aiohttp" if client == "aiohttp" else "http11"
    hostile.set("new_cookies")
    if client in ("http11", "aiohttp"):
        await installed.astart()  # the serving loop's long-lived client
    requests, with_cookies = hostile.requests, hostile.cookie_headers
    try:
        for _ in range(3):
            if client == "sync":
                assert (await asyncio.to_thread(installed.get, "/")).text == "ok"
            elif client == "client per call":
                assert await compare._aget_with_own_client("/") == 200
            else:
                assert (await installed.aget("/")).text == "ok"
    finally:
        await installed.aclose()
    assert hostile.requests == requests + 3
    assert hostile.cookie_headers == with_cookies


# --- the real server under attack ----------------------------------------------------------------

TOKEN = "hostile-metrics-token"
SMOKERS, SYNCERS, PER_CALL = 16, 4, 4


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
        "HELLO_ASYNC_LAB": "1",  # /compare/client_per_call/: a client per call
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


def refusals_logged(process: Process, start: int, marker: str) -> list[str]:
    """The error lines the worker logged since line ``start``, once ``marker`` (a request made
    after the attack) is in its log: one thread writes the records in the order they came."""
    process.wait_for(re.escape(marker), start=start)
    return [line for line in process.lines[start:] if re.search(r"-> 50\d \(request ", line)]


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
        log_start = len(process.lines)
        with_cookies = hostile.cookie_headers
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
        paths = (
            ["/smoke_some_meats/"] * SMOKERS
            + ["/sync/"] * SYNCERS
            + ["/compare/client_per_call/"] * PER_CALL
        )
        answers = []
        for _ in range(3 if case == "new_cookies" else 1):  # later calls would carry cookies
            answers += await asyncio.gather(*(call(path) for path in paths))
        attack_over.set()
        await prober
        rss_after = rss_mb(process.popen.pid)
        marker = f"/attack-over-{case}/"
        assert (await http.get(marker)).status_code == 404
        logged = refusals_logged(process, log_start, marker)

        slowest = max(seconds for _, seconds, _ in answers)
        print(  # the figures of docs/reliability.md (pytest -s)
            f"\n{case}: slowest answer {slowest * 1000:.0f} ms,"
            f" RSS {rss_after - rss_before:+.1f} MB,"
            f" / at most {max(probe_ms):.0f} ms over {len(probe_ms)} probes,"
            f" statuses {sorted(Counter(status for status, _, _ in answers).items())}"
        )
        if case in REFUSED_BY:
            assert {status for status, _, _ in answers} == {502}, answers[:3]
            # A stranger learns what failed; the log, which limit refused the answer.
            assert {text for *_, text in answers} == {"bad answer from the upstream\n"}
            assert len(logged) == len(answers), logged[:3]
            assert all(re.search(REFUSED_BY[case], line) for line in logged), logged[:3]
        else:  # new_cookies: a good answer, whose cookies are never sent back
            assert {status for status, _, _ in answers} == {200}, answers[:3]
            assert hostile.cookie_headers == with_cookies
            assert not logged, logged[:3]
        assert slowest < 2.0
        assert rss_after - rss_before < 150, f"RSS {rss_before:.0f} -> {rss_after:.0f} MB"
        assert probe_ms and max(probe_ms) < 1000, probe_ms
        stalled = [line for line in process.output().splitlines() if "stall" in line]
        assert await stalls(http) == stalls_before, stalled
