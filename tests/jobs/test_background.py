from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from hello_async.jobs.background import (
    JOBS_REFUSED,
    BackgroundFull,
    BackgroundWork,
    ain_own_thread,
)


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
    assert any(
        "cut at shutdown (grace 0.2 s): 1 job(s): 1 forever" in r.getMessage()
        for r in caplog.records
    )


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
    assert any(
        "cut at shutdown (grace 0.1 s): 1 job(s): 1 forever" in r.getMessage()
        for r in caplog.records
    )


# --- the bound: HELLO_ASYNC_BACKGROUND_MAX pending jobs ------------------------------------------


@pytest.mark.asyncio
async def test_past_max_pending_submit_refuses_before_anything_starts() -> None:
    owner = BackgroundWork(max_pending=2)
    owner.start()
    release = asyncio.Event()
    started: list[str] = []

    def job(name: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def work() -> None:
            started.append(name)
            await release.wait()

        return work

    refused_before = refused_total()
    owner.submit(job("first"), name="job")
    owner.submit(job("second"), name="job")
    with pytest.raises(BackgroundFull) as refused:
        owner.submit(job("third"), name="job")
    assert refused.value.status_code == 503 and refused.value.retry_after > 0
    await asyncio.sleep(0)  # the accepted jobs take their first step; the third has none
    assert started == ["first", "second"]
    assert owner.counts().pending == 2
    assert owner.refused() == 1
    assert refused_total() == refused_before + 1  # /metrics: hello_async_background_jobs_refused

    release.set()
    await owner.await_idle()
    owner.submit(job("fourth"), name="job")  # room again once jobs end
    await owner.await_idle()
    assert started == ["first", "second", "fourth"]
    assert owner.counts().as_dict() == {"pending": 0, "done": 3, "failed": 0, "cancelled": 0}


def refused_total() -> float:
    (family,) = JOBS_REFUSED.collect()
    return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))


def test_the_bound_holds_for_work_on_the_background_thread() -> None:
    owner = BackgroundWork(max_pending=1)
    release = threading.Event()

    async def work() -> None:
        await asyncio.to_thread(release.wait, 10)

    owner.submit(work, name="job")  # no serving loop: the background thread's loop
    with pytest.raises(BackgroundFull):
        owner.submit(work, name="job")
    release.set()
    assert owner.wait_idle(timeout=10)
    owner.submit(work, name="job")
    assert owner.wait_idle(timeout=10)
    owner.drain_thread(grace=1)
    assert owner.counts().done == 2 and owner.refused() == 1


@pytest.mark.asyncio
async def test_cancelled_and_failed_jobs_give_their_place_back() -> None:
    owner = BackgroundWork(max_pending=1)
    owner.start()

    async def broken() -> None:
        raise ValueError("boom")

    owner.submit(broken, name="broken")
    await owner.await_idle()
    owner.submit(asyncio.Event().wait, name="forever")
    await owner.adrain(grace=0)
    owner.start()
    owner.submit(broken, name="broken")  # neither the failure nor the cut still counts
    await owner.await_idle()
    assert owner.counts().as_dict() == {"pending": 0, "done": 0, "failed": 2, "cancelled": 1}


# --- the executor: the owner's own bounded threads -----------------------------------------------


@pytest.mark.asyncio
async def test_the_executor_runs_at_most_threads_at_once_in_the_owners_threads() -> None:
    owner = BackgroundWork(threads=2)
    owner.start()
    changed = threading.Condition()
    running = [0]
    names: set[str] = set()
    release = threading.Event()

    def blocking() -> None:
        with changed:
            running[0] += 1
            names.add(threading.current_thread().name)
            changed.notify_all()
        release.wait(10)
        with changed:
            running[0] -= 1

    async def job() -> None:
        await sync_to_async(blocking, thread_sensitive=False, executor=owner.executor())()

    for _ in range(5):
        owner.submit(job, name="job")

    def two_running() -> bool:
        with changed:
            return changed.wait_for(lambda: running[0] == 2, timeout=10)

    assert await asyncio.to_thread(two_running)
    release.set()
    await owner.await_idle()
    # Five jobs, each submitted while the first two blocked: a pool of more threads would have
    # started a thread for each.
    assert len(names) == 2
    assert all(name.startswith("hello-async-work") for name in names)
    assert owner.counts().done == 5
    await owner.adrain(grace=1)


@pytest.mark.asyncio
async def test_the_drain_shuts_the_executor_and_a_new_one_serves_after() -> None:
    owner = BackgroundWork(threads=1)
    owner.start()
    first = owner.executor()
    assert owner.executor() is first  # made once
    await owner.adrain(grace=0.1)
    with pytest.raises(RuntimeError):
        first.submit(print)
    assert owner.executor() is not first


@pytest.mark.asyncio
async def test_the_drain_does_not_queue_behind_a_full_default_pool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The drain's blocking part runs in a thread of its own: a default pool kept busy by
    someone else (here its one thread) must not hold up the shutdown."""
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(pool)
    busy = threading.Event()
    blocker = asyncio.ensure_future(asyncio.to_thread(busy.wait, 30))
    owner = BackgroundWork()
    owner.start()
    owner.submit(asyncio.Event().wait, name="forever")
    try:
        counts = await asyncio.wait_for(owner.adrain(grace=0.1), timeout=10)
        assert counts.cancelled == 1
        assert await ain_own_thread(lambda: 42) == 42
        with pytest.raises(ValueError, match="boom"):
            await ain_own_thread(int, "boom")
    finally:
        busy.set()
        await blocker


@pytest.mark.asyncio
async def test_the_cut_is_one_line_naming_how_many_of_each_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = BackgroundWork()
    owner.start()
    for name in ("http_call_sync", "http_call_async", "http_call_sync"):
        owner.submit(asyncio.Event().wait, name=name)
    await owner.adrain(grace=0.1)
    cuts = [r.getMessage() for r in caplog.records if "cut at shutdown" in r.getMessage()]
    assert cuts == [
        "Background work cut at shutdown (grace 0.1 s): 3 job(s): "
        "2 http_call_sync, 1 http_call_async"
    ]
