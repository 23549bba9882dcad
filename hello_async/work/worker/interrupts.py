"""The worker's main-thread signals: a stop (SIGTERM, SIGINT) and the alarm (SIGALRM).

A stop lets the current task run on for ``HELLO_ASYNC_TASK_SHUTDOWN_GRACE``; past that, or on a
second stop, :class:`_GiveBack` is raised in the task's code so the runner gives the task back.
SIGALRM serves two deadlines (``time.monotonic()``): a sync task's time limit and, once a stop
came, the grace; ITIMER_REAL points at the nearer one. Either is raised only while the task's own
code runs (``in_task``), never into the worker's bookkeeping around it.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from hello_async.work.worker.config import WorkerConfig
from hello_async.work.worker.errors import TaskTimeLimitExceeded, _GiveBack, time_limit_message

if TYPE_CHECKING:
    from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)


class Interrupts:
    def __init__(self, config: WorkerConfig, worker_id: str) -> None:
        self.config = config
        self.worker_id = worker_id
        self.stopping = False
        self.current: DBTaskResult[Any, Any] | None = None  # the task being run
        self.in_task = False  # the task's own code is running: a signal may interrupt it
        self.over_limit = False  # the current task's time limit fired
        self._owns_alarm = False  # install() ran: ITIMER_REAL and SIGALRM are ours
        self._limit_at: float | None = None
        self._grace_at: float | None = None

    def install(self) -> None:
        """Handle SIGTERM, SIGINT and SIGALRM (the main thread's; the time limit needs them)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGALRM, self._on_alarm)
        self._owns_alarm = True

    def start_limit(self, limit: float) -> None:
        """The task's code starts: SIGALRM at ``limit`` seconds from now (0: none) or the grace."""
        self.over_limit = False
        if limit > 0:
            self._limit_at = time.monotonic() + limit
        # Also the grace's deadline, if a stop signal came (and its alarm went unheeded) while
        # the task was being set up.
        self._arm()

    def leave_task(self) -> None:
        """The task's code is done: neither deadline may interrupt the bookkeeping after it."""
        self.in_task = False
        self._limit_at = None
        if self._owns_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            if self.in_task:
                raise _GiveBack("second stop signal")
            return
        self.stopping = True
        if self.current is None:
            logger.info("Worker %s: %s, exiting", self.worker_id, signal.strsignal(signum))
            return
        logger.info(
            "Worker %s: %s, finishing task %s (up to %g s), then exiting",
            self.worker_id,
            signal.strsignal(signum),
            self.current.id,
            self.config.shutdown_grace,
        )
        self._grace_at = time.monotonic() + self.config.shutdown_grace
        self._arm()

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        """The time limit's deadline or the grace's, whichever is due: both may be armed."""
        if not self.in_task:
            return  # between task steps: the worker is finishing the task's bookkeeping
        now = time.monotonic()
        if self._limit_at is not None and now >= self._limit_at:
            # Past its limit the task is FAILED even if a stop signal came too: a re-run
            # elsewhere would only run into the same limit.
            self._limit_at = None
            self.over_limit = True
            self._arm()  # the grace's deadline, if the task catches this and runs on
            raise TaskTimeLimitExceeded(time_limit_message(self.config.time_limit))
        if self._grace_at is not None and now >= self._grace_at:
            raise _GiveBack("shutdown grace over")
        self._arm()  # woken before either deadline: sleep again until the nearer

    def _arm(self) -> None:
        """Point ITIMER_REAL at the nearer deadline (one already past fires at once)."""
        deadlines = [at for at in (self._limit_at, self._grace_at) if at is not None]
        if deadlines and self._owns_alarm:
            signal.setitimer(signal.ITIMER_REAL, max(min(deadlines) - time.monotonic(), 1e-6))
