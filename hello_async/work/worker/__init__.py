"""The task worker: runs Django tasks queued in the database (django-tasks-db), at least once.

    hello-async worker [--processes N]

django-tasks-db gives the queue table (``DBTaskResult``) and claims with ``SELECT ... FOR UPDATE
SKIP LOCKED``; this package adds what a fleet of workers needs around it, a module each:

* ``heartbeat``: each worker beats a ``TaskWorker`` row every quarter lease from a thread of its
  own, which also runs ``recovery`` (a dead worker's RUNNING task goes back to READY, or is
  FAILED with ``WorkerLost`` once its attempts are used) and ``pruning`` (finished tasks past
  ``HELLO_ASYNC_TASK_RETENTION``).
* ``runner``: claims and runs one task at a time; a task that raises runs again after a backoff
  until ``HELLO_ASYNC_TASK_MAX_ATTEMPTS`` (shared with lost workers), then is FAILED.
* ``wakeup``: an idle worker sleeps until PostgreSQL NOTIFYs that a task is READY (a trigger on
  the queue table), polling every ``HELLO_ASYNC_TASK_POLL_INTERVAL`` as the safety net.
* ``results``: every write is fenced on the run's own claim, so a worker presumed dead that
  wakes up late cannot overwrite the run that replaced it.
* ``time_limit`` and ``interrupts``: a task past ``HELLO_ASYNC_TASK_TIME_LIMIT`` is stopped and
  FAILED (``TaskTimeLimitExceeded``); SIGTERM lets the current task finish within
  ``HELLO_ASYNC_TASK_SHUTDOWN_GRACE``, then gives it back (READY).
* ``command``: ``hello-async worker``; ``--processes N`` supervises N workers as children.
* ``parent``: a worker stops, as on SIGTERM, when the process that started it is gone.

Tasks therefore run *at least once*; their effects must be idempotent (see hello_async.work.tasks).
Operating the workers: docs/deploy.md.
"""

from __future__ import annotations

from hello_async.work.worker.command import main
from hello_async.work.worker.config import WorkerConfig
from hello_async.work.worker.errors import LOST, TaskTimeLimitExceeded, WorkerLost
from hello_async.work.worker.recovery import Reaped, reap
from hello_async.work.worker.runner import Worker

__all__ = [
    "LOST",
    "Reaped",
    "TaskTimeLimitExceeded",
    "Worker",
    "WorkerConfig",
    "WorkerLost",
    "main",
    "reap",
]
