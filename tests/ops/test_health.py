from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.test import AsyncClient

from hello_async.asgi import application
from hello_async.ops import health
from tests.conftest import FakeUpstream
from tests.support.faultproxy import Blackhole, FaultProxy, Refuse
from tests.support.parts import using_upstream, using_upstream_check
from tests.support.servers import uvicorn_server


def sample(metrics_text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", metrics_text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


@pytest.mark.asyncio
async def test_healthz_answers_ok(serving) -> None:
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_readyz_checks_upstream_and_database(serving, fake_upstream: FakeUpstream) -> None:
    response = await AsyncClient().get("/readyz")
    body = response.content.decode()
    assert response.status_code == 200, body
    assert re.fullmatch(r"upstream: ok \(\d+ ms\)\ndatabase: ok \(\d+ ms\)\n", body)
    assert len(fake_upstream.requests) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_readyz_503_when_the_upstream_fails(serving, fake_upstream: FakeUpstream) -> None:
    fake_upstream.handler = lambda request: httpx.Response(500)
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert "upstream: failed (UpstreamBadStatus)\n" in response.content.decode()
    assert "database: ok" in response.content.decode()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_readyz_503_when_the_upstream_is_slower_than_the_deadline(
    serving, fake_upstream: FakeUpstream, settings
) -> None:
    settings.HELLO_ASYNC_READY_TIMEOUT = 0.1

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(200)

    fake_upstream.handler = hang  # type: ignore[assignment]
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert "upstream: no answer within 0.1 s\n" in response.content.decode()


@pytest.mark.asyncio
async def test_readyz_503_when_the_database_refuses(serving, fake_upstream: FakeUpstream) -> None:
    # No django_db mark: pytest-django's guard makes every database access fail.
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert "database: failed (" in response.content.decode()
    assert "upstream: ok" in response.content.decode()


@pytest.mark.asyncio
async def test_metrics_counts_upstream_calls_errors_and_requests_in_flight(
    serving, fake_upstream: FakeUpstream
) -> None:
    transport = httpx.ASGITransport(app=application)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        before = (await http.get("/metrics")).text
        fake_upstream.handler = lambda request: httpx.Response(500)
        assert (await http.get("/compare/async_call/")).status_code == 502
        fake_upstream.handler = lambda request: httpx.Response(200)
        assert (await http.get("/compare/async_call/")).status_code == 200
        response = await http.get("/metrics")
    after = response.text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    calls = "hello_async_upstream_request_duration_seconds_count"
    assert sample(after, calls) == sample(before, calls) + 2
    errors = 'hello_async_upstream_errors_total{kind="bad_status"}'
    assert sample(after, errors) == sample(before, errors) + 1
    timeouts = 'hello_async_upstream_errors_total{kind="timeout"}'
    assert sample(after, timeouts) == sample(before, timeouts)
    assert sample(after, "hello_async_requests_in_flight") == 1  # the /metrics request itself
    assert sample(after, "hello_async_background_jobs_pending") == 0
    assert "hello_async_background_jobs_failed_total" in after
    assert "hello_async_loop_stalls_total" in after


@pytest.mark.asyncio
async def test_metrics_counts_background_jobs(
    serving, fake_upstream: FakeUpstream, time_scale
) -> None:
    time_scale(0.05)  # the job counts for 250 ms: still pending when /metrics answers
    fake_upstream.handler = lambda request: httpx.Response(500)
    # The process's counters, across the session's tests: what this one adds.
    before = (await AsyncClient().get("/metrics")).content.decode()
    await AsyncClient().get("/async/")
    pending = (await AsyncClient().get("/metrics")).content.decode()
    assert sample(pending, "hello_async_background_jobs_pending") == 1
    await serving.await_idle()
    done = (await AsyncClient().get("/metrics")).content.decode()
    assert sample(done, "hello_async_background_jobs_pending") == 0
    failed = "hello_async_background_jobs_failed_total"
    assert sample(done, failed) == sample(before, failed) + 1
    finished = "hello_async_background_jobs_done_total"
    assert sample(done, finished) == sample(before, finished)


# --- /readyz asks the upstream at most once per HELLO_ASYNC_READY_CACHE_SECONDS ------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(settings) -> Iterator[FakeClock]:
    """A fresh upstream check on a clock the test moves; a window of 1 s."""
    settings.HELLO_ASYNC_READY_CACHE_SECONDS = 1.0
    fake = FakeClock()
    with using_upstream_check(health.SharedCheck(clock=fake)):
        yield fake


def upstream_calls(fake_upstream: FakeUpstream) -> int:
    return sum(1 for request in fake_upstream.requests if request.url.path == "/")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_readyz_asks_the_upstream_once_per_window_however_often_probed(
    serving, fake_upstream: FakeUpstream, clock: FakeClock
) -> None:
    transport = httpx.ASGITransport(app=application)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        probes = await asyncio.gather(*(http.get("/readyz") for _ in range(50)))
        assert [probe.status_code for probe in probes] == [200] * 50
        assert upstream_calls(fake_upstream) == 1

        clock.now += 0.999  # still within the window
        assert (await http.get("/readyz")).status_code == 200
        assert upstream_calls(fake_upstream) == 1

        clock.now += 0.002  # past it: the next probe asks again, and the one after does not
        fake_upstream.handler = lambda request: httpx.Response(500)
        failed = await asyncio.gather(*(http.get("/readyz") for _ in range(50)))
        assert [probe.status_code for probe in failed] == [503] * 50
        assert "upstream: failed (UpstreamBadStatus)\n" in failed[-1].text
        assert upstream_calls(fake_upstream) == 2


@pytest.mark.asyncio
async def test_concurrent_checks_share_the_one_in_flight(
    serving, fake_upstream: FakeUpstream, clock: FakeClock
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(200)

    fake_upstream.handler = slow  # type: ignore[assignment]
    check = health.get_upstream_check()
    probes = [asyncio.create_task(check.acheck()) for _ in range(50)]
    await entered.wait()
    probes[0].cancel()  # a probe whose client went away: the others still get the answer
    release.set()
    results = await asyncio.gather(*probes[1:])
    assert all(ok for _, ok in results)
    assert probes[0].cancelled()
    assert upstream_calls(fake_upstream) == 1


@pytest.mark.asyncio
async def test_a_new_upstream_client_is_asked_afresh(
    serving, fake_upstream: FakeUpstream, clock: FakeClock
) -> None:
    check = health.get_upstream_check()
    assert (await check.acheck())[1]
    other = FakeUpstream(handler=lambda request: httpx.Response(500))
    with using_upstream(other.install()):
        line, ok = await check.acheck()
    assert not ok and line == "upstream: failed (UpstreamBadStatus)\n"
    assert len(other.requests) == 1


@pytest.mark.asyncio
async def test_a_window_of_0_asks_on_every_probe(
    serving, fake_upstream: FakeUpstream, clock: FakeClock, settings
) -> None:
    settings.HELLO_ASYNC_READY_CACHE_SECONDS = 0
    check = health.get_upstream_check()
    for _ in range(3):
        assert (await check.acheck())[1]
    assert upstream_calls(fake_upstream) == 3


# --- /readyz: concurrent probes share one database check in flight -------------------------------


class GatedPing:
    """Stands in for ``health.ping_database``: counts its runs and holds each until released."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = threading.Event()

    def __call__(self) -> None:
        self.runs += 1
        assert self.release.wait(timeout=30), "the test never released the database check"


@pytest.fixture
def gated_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[GatedPing]:
    gate = GatedPing()
    monkeypatch.setattr(health, "ping_database", gate)
    monkeypatch.setattr(health, "_database_check", health.DatabaseCheck())
    try:
        yield gate
    finally:
        gate.release.set()


@pytest.mark.asyncio
async def test_concurrent_probes_share_one_database_check(
    serving, fake_upstream: FakeUpstream, gated_database: GatedPing, settings
) -> None:
    settings.HELLO_ASYNC_READY_CACHE_SECONDS = 0  # each probe asks the upstream: it counts them
    arrived, all_in, release = 0, asyncio.Event(), asyncio.Event()

    async def count_in(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        if arrived == 100:
            all_in.set()
        await release.wait()
        return httpx.Response(200)

    fake_upstream.handler = count_in  # type: ignore[assignment]
    transport = httpx.ASGITransport(app=application)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        probes = [asyncio.create_task(http.get("/readyz")) for _ in range(100)]
        # A probe's database check starts beside its upstream call (one gather): once the
        # upstream has all 100, all 100 database checks have begun while the first one runs.
        await all_in.wait()
        gated_database.release.set()
        release.set()
        answers = await asyncio.gather(*probes)
    assert [answer.status_code for answer in answers] == [200] * 100
    assert all("database: ok" in answer.text for answer in answers)
    assert gated_database.runs == 1


@pytest.mark.asyncio
async def test_a_hung_database_check_stays_the_one_in_flight(
    gated_database: GatedPing, settings
) -> None:
    settings.HELLO_ASYNC_READY_TIMEOUT = 0.05
    check = health.get_database_check()
    for _ in range(3):  # each probe gives up at its deadline; none starts a second query
        assert await check.acheck() == ("database: no answer within 0.05 s\n", False)
    assert gated_database.runs == 1

    gated_database.release.set()
    settings.HELLO_ASYNC_READY_TIMEOUT = 30
    assert (await check.acheck())[1]  # the hung check's answer, when it comes
    assert (await check.acheck())[1]  # then the next probe asks afresh: no answer is kept
    assert gated_database.runs == 2


@pytest.mark.django_db(transaction=True)
def test_the_database_check_closes_the_connection_of_its_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check's thread ends after one query: left open, its connection would hold a slot
    of the pool (PostgreSQL) for ever, and after DATABASE_POOL_MAX checks none would be left."""
    from django.db import connection

    closed_in: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> object:
            return getattr(connection, name)

        def close(self) -> None:
            closed_in.append(threading.current_thread().name)
            connection.close()

    monkeypatch.setattr(health, "connection", Recording())
    check = health.DatabaseCheck()
    for _ in range(2):
        assert asyncio.run(check.acheck())[1]
    assert closed_in == ["readyz-database"] * 2


def threads_of(pid: int) -> int:
    match = re.search(r"^Threads:\s+(\d+)$", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert match
    return int(match.group(1))


@pytest.mark.server
def test_a_burst_of_probes_adds_no_thread_per_probe_on_a_real_server(
    httpbin_url: str, tmp_path: Path
) -> None:
    async def probe(http: httpx.AsyncClient, url: str) -> httpx.Response:
        return await http.get(url + "/readyz")

    async def burst(url: str, proxy: FaultProxy, pid: int) -> tuple[int, list[httpx.Response]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            probes = [asyncio.create_task(probe(http, url)) for _ in range(100)]
            # Each probe's upstream call hangs in the blackhole, so all 100 stay in flight;
            # by the time the upstream has them all, every database check has begun.
            await asyncio.to_thread(proxy.wait_until, lambda counts: counts.requests >= 101)
            during = threads_of(pid)
            proxy.set(Refuse())  # the upstream calls fail at once: the probes answer
            return during, await asyncio.gather(*probes)

    with FaultProxy(httpbin_url) as proxy:
        process, url = uvicorn_server(
            {
                "UPSTREAM_URL": proxy.url,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                "HELLO_ASYNC_READY_CACHE_SECONDS": "0",  # every probe asks the upstream
                # Stock Django (0) gives each request in flight a thread of its own for its sync
                # request_started receivers, whatever the view does (7 -> 107 here as well).
                "HELLO_ASYNC_FASTPATH": "1",
                "HELLO_ASYNC_READY_TIMEOUT": "60",
                "UPSTREAM_TIMEOUT": "60",
            }
        )
        try:
            warm = httpx.get(url + "/readyz", timeout=30)  # the lazy threads start here
            assert warm.status_code == 200, warm.text
            baseline = threads_of(process.popen.pid)
            proxy.set(Blackhole())
            during, answers = asyncio.run(burst(url, proxy, process.popen.pid))
        finally:
            process.terminate()
    assert [answer.status_code for answer in answers] == [503] * 100
    assert all("database: ok" in answer.text for answer in answers)
    # One thread per database check at most, not one per probe (main had 100 more here).
    assert during - baseline <= 10, (baseline, during)
