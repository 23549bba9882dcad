"""The one owner of fire-and-forget work started by a request (the article's "background tasks").

The article does ``loop.create_task(coro)`` and drops the task. The loop keeps only a weak
reference to it, so it may be garbage-collected mid-run, its exception is never seen, and it is
cancelled without a word when the loop ends. Here:

* :func:`submit` takes a coroutine *function* and keeps a strong reference to its task until it
  ends; a failure is logged with its traceback; pending, done, failed and cancelled are counted.
* The work is bounded: while ``HELLO_ASYNC_BACKGROUND_MAX`` jobs are pending, :func:`submit`
  refuses with :class:`BackgroundFull` (503 with ``Retry-After``) before anything starts, so an
  anonymous flood of the views that start jobs queues nothing past the bound.
* Blocking work of a job runs on the owner's own thread pool (:func:`executor`, at most
  ``HELLO_ASYNC_BACKGROUND_THREADS`` threads), never on the loop's default pool: DNS lookups,
  ``asyncio.to_thread`` and the shutdown itself need that one, and a flood of jobs queued there
  kept SIGTERM waiting for minutes.
* On the serving loop (the one an ASGI lifespan started, see hello_async.ops.lifespan) the work runs
  as a task of that loop. Anywhere else - WSGI, ``runserver``, Django's test client - the
  request's loop ends with the response, which would cancel the work, so it runs instead on a
  long-lived loop in a thread of its own, and the log says so.
* At shutdown :func:`adrain` waits for pending work up to a grace period
  (``HELLO_ASYNC_SHUTDOWN_GRACE``), then cancels what is left, drops what is queued for the
  threads, and logs in one line how many jobs of each kind it cut. A thread cannot be stopped
  from outside: a job's blocking code stops at its next wait once its job is cancelled
  (hello_async.article.kitchen shows how), or the process's exit waits for it.

This is for light work whose loss on a crash is tolerable. Work that must not be lost belongs
in a task queue with workers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from prometheus_client import Counter as PrometheusCounter
from prometheus_client import Gauge

from hello_async.errors import Busy

logger = logging.getLogger(__name__)

# The process's figures in prometheus-client's objects as well: with several processes (its
# multiprocess mode) /metrics adds every process's up (hello_async.ops.metrics).
JOBS_PENDING = Gauge(
    "hello_async_background_jobs_pending",
    "Background jobs submitted and not yet finished.",
    multiprocess_mode="livesum",
    registry=None,
)
JOBS_DONE = PrometheusCounter(
    "hello_async_background_jobs_done", "Background jobs that ended well.", registry=None
)
JOBS_FAILED = PrometheusCounter(
    "hello_async_background_jobs_failed",
    "Background jobs that raised an exception.",
    registry=None,
)
JOBS_CANCELLED = PrometheusCounter(
    "hello_async_background_jobs_cancelled",
    "Background jobs cancelled (at shutdown, past the grace).",
    registry=None,
)
JOBS_REFUSED = PrometheusCounter(
    "hello_async_background_jobs_refused",
    "Background jobs refused (503) while HELLO_ASYNC_BACKGROUND_MAX were pending.",
    registry=None,
)

Work = Callable[[], Coroutine[Any, Any, object]]


@dataclass(frozen=True)
class Counts:
    pending: int
    done: int
    failed: int
    cancelled: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class BackgroundFull(Busy):
    """``max_pending`` jobs are pending: this one was not started."""


class BackgroundWork:
    def __init__(self, *, max_pending: int = 1000, threads: int = 32) -> None:
        self.max_pending = max_pending
        self.threads = threads
        self._lock = threading.Lock()
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread_futures: dict[concurrent.futures.Future[None], str] = {}
        self._thread_loop: _LoopThread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._admitted = 0  # admitted and not yet forgotten: what the bound counts
        self._done = 0
        self._failed = 0
        self._cancelled = 0
        self._refused = 0
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
            log_cut((task.get_name() for task in still_pending), grace)
            for task in still_pending:
                task.cancel()
            if still_pending:
                await asyncio.wait(still_pending)
        # In a thread of its own: the loop's default pool may be full of someone else's work.
        await ain_own_thread(self.drain_thread, max(0.0, deadline - time.monotonic()))
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
        """Wait for the fallback thread's work, cancel what outlives ``grace``, stop the thread
        and the executor (what is queued there is dropped; what runs ends with its job)."""
        with self._lock:
            futures = dict(self._thread_futures)
            loop_thread, self._thread_loop = self._thread_loop, None
        if futures:
            _, still_pending = concurrent.futures.wait(futures, timeout=grace)
            log_cut((futures[future] for future in still_pending), grace)
            for future in still_pending:
                future.cancel()
            concurrent.futures.wait(still_pending, timeout=5)
        if loop_thread is not None:
            loop_thread.stop()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """The owner's threads for the blocking part of a job (at most ``threads``), made on
        first use; what is queued beyond them waits there, never in the loop's default pool."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix="hello-async-work"
                )
            return self._executor

    # --- submitting -------------------------------------------------------------------------

    def submit(self, work: Work, *, name: str) -> None:
        """Run ``work()`` in the background; returns at once. Raises :class:`BackgroundFull`,
        having started nothing, while ``max_pending`` jobs are pending."""
        self._admit(name)
        try:
            self._start(work, name)
        except BaseException:
            self._release()
            raise

    def _admit(self, name: str) -> None:
        with self._lock:
            if self._admitted >= self.max_pending:
                self._refused += 1
                refused = True
            else:
                self._admitted += 1
                refused = False
                JOBS_PENDING.inc()
        if refused:
            JOBS_REFUSED.inc()
            raise BackgroundFull(
                f"Too much background work pending ({self.max_pending}); try again shortly."
            )

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1
            self._idle.notify_all()
        JOBS_PENDING.dec()

    def _start(self, work: Work, name: str) -> None:
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
            JOBS_FAILED.inc()
        else:
            with self._lock:
                self._done += 1
            JOBS_DONE.inc()

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._tasks.discard(task)
            self._cancelled += task.cancelled()
            self._admitted -= 1
            self._idle.notify_all()
        _count_end(cancelled=task.cancelled())

    def _forget_future(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._thread_futures.pop(future, None)
            self._cancelled += future.cancelled()
            self._admitted -= 1
            self._idle.notify_all()
        _count_end(cancelled=future.cancelled())

    # --- observing --------------------------------------------------------------------------

    def counts(self) -> Counts:
        with self._lock:
            return Counts(
                pending=self._admitted,
                done=self._done,
                failed=self._failed,
                cancelled=self._cancelled,
            )

    def refused(self) -> int:
        """Jobs refused with :class:`BackgroundFull` since the process started."""
        with self._lock:
            return self._refused

    def wait_idle(self, timeout: float) -> bool:
        """Block until no work is pending ; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._admitted == 0, timeout=timeout)

    async def await_idle(self) -> None:
        """Wait until the serving loop's tasks are all finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))


def _count_end(*, cancelled: bool) -> None:
    JOBS_PENDING.dec()
    if cancelled:
        JOBS_CANCELLED.inc()


def log_cut(names: Iterable[str], grace: float) -> None:
    """One line for the jobs cut at shutdown: how many, of which kinds (their names)."""
    kinds = Counter(names)
    if kinds:
        logger.warning(
            "Background work cut at shutdown (grace %g s): %d job(s): %s",
            round(grace, 2),
            kinds.total(),
            ", ".join(f"{count} {name}" for name, count in kinds.most_common()),
        )


async def ain_own_thread[R](func: Callable[..., R], *args: object) -> R:
    """``func(*args)`` in a new daemon thread: unlike ``asyncio.to_thread`` it never queues
    behind the loop's default pool, for the calls a shutdown cannot wait to start."""
    outcome: concurrent.futures.Future[R] = concurrent.futures.Future()

    def run() -> None:
        if outcome.set_running_or_notify_cancel():
            try:
                outcome.set_result(func(*args))
            except BaseException as exc:
                outcome.set_exception(exc)

    threading.Thread(target=run, name="hello-async-shutdown", daemon=True).start()
    return await asyncio.wrap_future(outcome)


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


_owner: BackgroundWork | None = None
_owner_lock = threading.Lock()


def get_owner() -> BackgroundWork:
    """The process's owner, made on first use with the bounds the settings give."""
    global _owner
    with _owner_lock:
        if _owner is None:
            _owner = BackgroundWork(
                max_pending=settings.HELLO_ASYNC_BACKGROUND_MAX,
                threads=settings.HELLO_ASYNC_BACKGROUND_THREADS,
            )
        return _owner


def submit(work: Work, *, name: str) -> None:
    get_owner().submit(work, name=name)


def executor() -> concurrent.futures.ThreadPoolExecutor:
    return get_owner().executor()


def counts() -> Counts:
    return get_owner().counts()
