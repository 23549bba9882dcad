from __future__ import annotations

import asyncio
import gc
import logging
import threading

import pytest

from hello_async.work.background import BackgroundWork


@pytest.mark.asyncio
async def test_submit_on_the_serving_loop_runs_and_counts() -> None:
    owner = BackgroundWork()
    owner.start()
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()

    owner.submit(work, name="work")
    assert owner.counts().pending == 1
    gc.collect()  # the owner's strong reference keeps the task alive
    await owner.await_idle()
    assert ran.is_set()
    assert owner.counts().as_dict() == {"pending": 0, "done": 1, "failed": 0, "cancelled": 0}


@pytest.mark.asyncio
async def test_failure_is_logged_with_traceback_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = BackgroundWork()
    owner.start()

    async def broken() -> None:
        raise ValueError("boom")

    owner.submit(broken, name="broken")
    await owner.await_idle()
    assert owner.counts().failed == 1
    (record,) = [r for r in caplog.records if r.getMessage() == "Background task 'broken' failed"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


@pytest.mark.asyncio
async def test_drain_waits_for_short_work_and_cuts_long_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = BackgroundWork()
    owner.start()
    never = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0)

    async def forever() -> None:
        await never.wait()

    owner.submit(quick, name="quick")
    owner.submit(forever, name="forever")
    counts = await owner.adrain(grace=0.2)
    assert counts.as_dict() == {"pending": 0, "done": 1, "failed": 0, "cancelled": 1}
    assert any("'forever' cut at shutdown" in r.getMessage() for r in caplog.records)


def test_work_submitted_without_a_serving_loop_runs_on_the_background_thread() -> None:
    owner = BackgroundWork()
    threads: list[str] = []

    async def work() -> None:
        threads.append(threading.current_thread().name)

    owner.submit(work, name="work")  # no running loop at all, as in a WSGI worker
    assert owner.wait_idle(timeout=10)
    owner.drain_thread(grace=1)
    assert threads == ["hello-async-background"]
    assert owner.counts().done == 1


@pytest.mark.asyncio
async def test_work_from_a_loop_that_is_not_the_serving_loop_goes_to_the_thread() -> None:
    owner = BackgroundWork()  # start() not called: this loop is a one-off request loop
    seen: list[asyncio.AbstractEventLoop] = []

    async def work() -> None:
        seen.append(asyncio.get_running_loop())

    owner.submit(work, name="work")
    await asyncio.to_thread(owner.wait_idle, 10)
    owner.drain_thread(grace=1)
    assert seen and seen[0] is not asyncio.get_running_loop()


def test_drain_thread_cuts_work_that_outlives_the_grace(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    owner = BackgroundWork()
    started = threading.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    owner.submit(forever, name="forever")
    assert started.wait(timeout=10)
    owner.drain_thread(grace=0.1)
    assert owner.counts().as_dict() == {"pending": 0, "done": 0, "failed": 0, "cancelled": 1}
    assert any("'forever' cut at shutdown" in r.getMessage() for r in caplog.records)
