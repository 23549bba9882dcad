from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import pytest
import uvloop

from hello_async.asgi import application
from hello_async.ops import inflight, loopmonitor


def stalls_counted() -> float:
    """The process's stall counter, as /metrics reads it."""
    samples = (sample for metric in loopmonitor.LOOP_STALLS.collect() for sample in metric.samples)
    return next(sample.value for sample in samples if sample.name.endswith("_total"))


def stall_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hello_async.ops.loopmonitor"]


def naming(caplog: pytest.LogCaptureFixture, what: str) -> list[logging.LogRecord]:
    return [r for r in stall_warnings(caplog) if what in r.getMessage()]


def test_watchdog_warns_during_a_stall_under_uvloop(caplog: pytest.LogCaptureFixture) -> None:
    """uvloop: no asyncio debug hooks, yet the warning comes while the loop is still blocked."""
    caplog.set_level(logging.WARNING, logger="hello_async.ops.loopmonitor")
    table = inflight.InFlightTable()
    warned_during_stall = threading.Event()
    before = stalls_counted()

    async def main() -> loopmonitor.LoopMonitor:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        monitor = loopmonitor.LoopMonitor(threshold=0.1, table=table)
        await monitor.astart()
        await asyncio.sleep(0.05)  # let the tick run once
        key = table.add("GET", "/burn_some_meats/")
        # Block the loop until the watchdog has spoken (bounded): a blocking call, on purpose.
        deadline = time.monotonic() + 10
        while not naming(caplog, "/burn_some_meats/") and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: ASYNC251
        if naming(caplog, "/burn_some_meats/"):
            warned_during_stall.set()
        table.remove(key)
        await asyncio.sleep(0.1)  # the tick runs again and counts the stall
        await monitor.astop()
        return monitor

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        monitor = runner.run(main())

    assert warned_during_stall.is_set()
    during = naming(caplog, "GET /burn_some_meats/")[0]
    assert during.levelno == logging.WARNING
    assert during.threadName == "hello-async-loop-watchdog"
    assert "blocked for" in during.getMessage()
    # >= : on a busy machine the loop may also stall for real around the staged stall.
    assert monitor.stalls >= 1
    assert stalls_counted() >= before + 1
    assert "ran again after a stall" in stall_warnings(caplog)[-1].getMessage()


@pytest.mark.asyncio
async def test_short_stall_is_counted_by_the_tick(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hello_async.ops.loopmonitor")
    # A watchdog period far longer than the stall: only the tick can see it.
    monitor = loopmonitor.LoopMonitor(threshold=0.03, interval=0.01)
    monitor._watch = lambda: None  # type: ignore[method-assign]
    await monitor.astart()
    await asyncio.sleep(0.02)
    time.sleep(0.1)  # noqa: ASYNC251 (the stall under test)
    await asyncio.sleep(0.05)
    await monitor.astop()
    assert monitor.stalls >= 1
    assert naming(caplog, "Event loop stalled for")


@pytest.mark.asyncio
async def test_quiet_loop_counts_no_stall() -> None:
    # A threshold no scheduler hiccup on a busy machine reaches; the loop only sleeps.
    monitor = loopmonitor.LoopMonitor(threshold=1.0, interval=0.01)
    await monitor.astart()
    await asyncio.sleep(0.3)
    await monitor.astop()
    assert monitor.stalls == 0


@pytest.mark.asyncio
async def test_burn_some_meats_triggers_the_monitor_naming_the_request(
    serving, time_scale, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the project's ASGI application, on the serving loop the lifespan set up."""
    time_scale(0.08)  # a 400 ms burn against the default 100 ms threshold
    caplog.set_level(logging.WARNING, logger="hello_async.ops.loopmonitor")
    before = stalls_counted()
    transport = httpx.ASGITransport(app=application)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        response = await http.get("/burn_some_meats/")
        assert response.status_code == 200
        await asyncio.sleep(0.2)  # the tick runs again after the burn
        metrics = (await http.get("/metrics")).text
    messages = [r.getMessage() for r in stall_warnings(caplog)]
    assert any("GET /burn_some_meats/" in m and "blocked for" in m for m in messages), messages
    assert stalls_counted() >= before + 1
    assert f"hello_async_loop_stalls_total {stalls_counted()}" in metrics


def test_the_warning_names_the_five_oldest_requests_and_counts_the_rest() -> None:
    table = inflight.InFlightTable()
    keys = [table.add("GET", f"/r{i}/") for i in range(8)]
    monitor = loopmonitor.LoopMonitor(threshold=0.1, table=table)
    described = monitor.describe_in_flight()
    assert described.startswith("GET /r0/ (")
    assert "/r4/" in described and "/r5/" not in described
    assert described.endswith(" and 3 more")
    for key in keys[2:]:
        table.remove(key)
    assert "more" not in monitor.describe_in_flight()
    assert (
        loopmonitor.LoopMonitor(threshold=0.1, table=inflight.InFlightTable()).describe_in_flight()
        == "none"
    )
