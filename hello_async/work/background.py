"""The one owner of fire-and-forget work started by a request (the article's "background tasks").

The article does ``loop.create_task(coro)`` and drops the task. The loop keeps only a weak
reference to it, so it may be garbage-collected mid-run, its exception is never seen, and it is
cancelled without a word when the loop ends. Here:

* :func:`submit` takes a coroutine *function* and keeps a strong reference to its task until it
  ends; a failure is logged with its traceback; pending, done, failed and cancelled are counted.
* On the serving loop (the one an ASGI lifespan started, see hello_async.ops.lifespan) the work runs
  as a task of that loop. Anywhere else - WSGI, ``runserver``, Django's test client - the
  request's loop ends with the response, which would cancel the work, so it runs instead on a
  long-lived loop in a thread of its own, and the log says so.
* At shutdown :func:`adrain` waits for pending work up to a grace period
  (``HELLO_ASYNC_SHUTDOWN_GRACE``), then cancels what is left and logs each piece it cut.

This is for light work whose loss on a crash is tolerable. Work that must not be lost belongs
in a task queue with workers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, object]]


@dataclass(frozen=True)
class Counts:
    pending: int
    done: int
    failed: int
    cancelled: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class BackgroundWork:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread_futures: dict[concurrent.futures.Future[None], str] = {}
        self._thread_loop: _LoopThread | None = None
        self._done = 0
        self._failed = 0
        self._cancelled = 0
        self._idle = threading.Condition(self._lock)

    # --- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        """Make the running loop the serving loop (called at ASGI lifespan startup)."""
        self._serving_loop = asyncio.get_running_loop()

    async def adrain(self, grace: float) -> Counts:
        """Wait up to ``grace`` seconds for pending work, cancel what is left; returns the counts.

        Called on the serving loop at shutdown; also drains the fallback thread's work, within
        the same ``grace``.
        """
        deadline = time.monotonic() + grace
        tasks = set(self._tasks)
        if tasks:
            logger.info(
                "Waiting up to %g s for %d background task(s)...", round(grace, 2), len(tasks)
            )
            _, still_pending = await asyncio.wait(tasks, timeout=grace)
            for task in still_pending:
                logger.warning(
                    "Background task %r cut at shutdown (grace %g s)",
                    task.get_name(),
                    round(grace, 2),
                )
                task.cancel()
            if still_pending:
                await asyncio.wait(still_pending)
        await asyncio.to_thread(self.drain_thread, max(0.0, deadline - time.monotonic()))
        self._serving_loop = None
        counts = self.counts()
        logger.info(
            "Background work drained: %d done, %d failed, %d cancelled",
            counts.done,
            counts.failed,
            counts.cancelled,
        )
        return counts

    def drain_thread(self, grace: float) -> None:
        """Wait for the fallback thread's work, cancel what outlives ``grace``, stop the thread."""
        with self._lock:
            futures = dict(self._thread_futures)
            loop_thread, self._thread_loop = self._thread_loop, None
        if futures:
            _, still_pending = concurrent.futures.wait(futures, timeout=grace)
            for future in still_pending:
                logger.warning(
                    "Background task %r cut at shutdown (grace %g s)",
                    futures[future],
                    round(grace, 2),
                )
                future.cancel()
            concurrent.futures.wait(still_pending, timeout=5)
        if loop_thread is not None:
            loop_thread.stop()

    # --- submitting -------------------------------------------------------------------------

    def submit(self, work: Work, *, name: str) -> None:
        """Run ``work()`` in the background; returns at once."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and loop is self._serving_loop:
            task = loop.create_task(self._run(work, name), name=name)
            with self._lock:
                self._tasks.add(task)
            task.add_done_callback(self._forget_task)
            return
        logger.info(
            "No long-lived event loop here (WSGI, runserver or a test client): "
            "running %r on the background thread's loop",
            name,
        )
        with self._lock:
            if self._thread_loop is None:
                self._thread_loop = _LoopThread()
            future = asyncio.run_coroutine_threadsafe(self._run(work, name), self._thread_loop.loop)
            self._thread_futures[future] = name
        future.add_done_callback(self._forget_future)

    async def _run(self, work: Work, name: str) -> None:
        # Cancellation is counted by the done callbacks: a task cancelled before its first
        # step never enters this coroutine.
        try:
            await work()
        except Exception:
            logger.exception("Background task %r failed", name)
            with self._lock:
                self._failed += 1
        else:
            with self._lock:
                self._done += 1

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._tasks.discard(task)
            self._cancelled += task.cancelled()
            self._idle.notify_all()

    def _forget_future(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._thread_futures.pop(future, None)
            self._cancelled += future.cancelled()
            self._idle.notify_all()

    # --- observing --------------------------------------------------------------------------

    def counts(self) -> Counts:
        with self._lock:
            return Counts(
                pending=len(self._tasks) + len(self._thread_futures),
                done=self._done,
                failed=self._failed,
                cancelled=self._cancelled,
            )

    def wait_idle(self, timeout: float) -> bool:
        """Block until no work is pending (for tests and the CLI); False on timeout."""
        with self._idle:
            return self._idle.wait_for(
                lambda: not self._tasks and not self._thread_futures, timeout=timeout
            )

    async def await_idle(self) -> None:
        """Wait until the serving loop's tasks are all finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))


class _LoopThread:
    """A long-lived event loop in a daemon thread, for work submitted outside the serving loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="hello-async-background", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


_owner = BackgroundWork()


def get_owner() -> BackgroundWork:
    return _owner


def submit(work: Work, *, name: str) -> None:
    _owner.submit(work, name=name)


def counts() -> Counts:
    return _owner.counts()


def set_owner(owner: BackgroundWork) -> BackgroundWork:
    """Install ``owner`` as the process's owner; returns the previous one (for tests)."""
    global _owner
    previous, _owner = _owner, owner
    return previous
