"""The kitchen: smoke()'s lines at INFO and none (nor their cost) above it; the thread work of
/sync_to_async/ in the executor it is given, stopped when its job is cancelled."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any

import pytest

from hello_async.article import kitchen


def test_smoke_logs_three_lines_a_meat_at_info_in_one_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hello_async.article.kitchen")
    assert kitchen.smoke(["ribs", "salmon"], "Famous Dave's") == 2
    assert len(caplog.records) == 1  # one step of the loop, one record: its lines printed apart
    assert caplog.records[0].getMessage().split("\n") == [
        "Smoking some ribs...",
        "Applying the Famous Dave's...",
        "Ribs smoked.",
        "Smoking some salmon...",
        "Applying the Famous Dave's...",
        "Salmon smoked.",
    ]


def test_smoke_logs_nothing_above_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hello_async.article.kitchen")
    assert kitchen.smoke(list(kitchen.SMOKABLES), "Stubb's Original") == len(kitchen.SMOKABLES)
    assert caplog.records == []


# --- /sync_to_async/'s work: in the given executor's threads, stopped when cancelled ------------


@pytest.mark.asyncio
async def test_the_thread_work_runs_in_the_given_executor(
    fake_upstream, time_scale, caplog: pytest.LogCaptureFixture
) -> None:
    time_scale(0)
    caplog.set_level(logging.INFO, logger="hello_async")
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="given") as executor:
        await kitchen.ahttp_call_in_thread(executor)
    threads = {r.threadName for r in caplog.records if r.name == "hello_async.article.kitchen"}
    assert threads and all(name.startswith("given") for name in threads)
    assert len(fake_upstream.requests) == 1


@pytest.mark.asyncio
async def test_cancelled_the_thread_work_stops_at_its_next_tick(
    fake_upstream, time_scale, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A thread cannot be cancelled: without the stop, a cancelled job's thread would count its
    ticks out (here 5 x 60 s) and the process's exit would wait for it."""
    time_scale(60)
    caplog.set_level(logging.INFO, logger="hello_async")
    entered = threading.Event()
    http_call = kitchen.http_call

    def noting_entry(**kwargs: Any) -> None:
        entered.set()
        http_call(**kwargs)

    monkeypatch.setattr(kitchen, "http_call", noting_entry)
    executor = concurrent.futures.ThreadPoolExecutor(1)
    job = asyncio.ensure_future(kitchen.ahttp_call_in_thread(executor))
    assert await asyncio.to_thread(entered.wait, 10)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    # The thread is free again long before its first 60 s tick: it was stopped, not waited for.
    await asyncio.wait_for(asyncio.to_thread(executor.shutdown, True), timeout=10)
    assert [r.getMessage() for r in caplog.records if r.name == kitchen.logger.name] == []
    assert fake_upstream.requests == []
