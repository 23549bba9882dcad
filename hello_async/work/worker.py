"""The task worker: runs Django tasks queued in the database (django-tasks-db), at least once.

    hello-async worker [--processes N]

django-tasks-db gives the queue table (``DBTaskResult``), claims with ``SELECT ... FOR UPDATE
SKIP LOCKED`` (an exclusive transaction on SQLite) and a ``db_worker`` command. What it lacks, and
this module adds:

* **Liveness.** Each worker writes a heartbeat row (``TaskWorker``) every quarter lease, from a
  thread of its own, so a long task does not look like a dead worker.
* **Stale-task recovery** (:func:`reap`, run by every worker's heartbeat thread): a task RUNNING
  for longer than the lease whose worker sent no heartbeat within the lease (SIGKILL, OOM, a lost
  machine) goes back to READY; its attempt count is its ``worker_ids`` (one per claim, as
  ``TaskResult.attempts`` counts). Once a lost worker has cost ``HELLO_ASYNC_TASK_MAX_ATTEMPTS``
  runs, the task is FAILED with the reason instead.
* **Retries.** A task that raises goes back to READY with ``run_after`` set
  ``HELLO_ASYNC_TASK_RETRY_BACKOFF`` seconds ahead, doubled on each later attempt (at most
  ``HELLO_ASYNC_TASK_RETRY_BACKOFF_MAX``); django-tasks-db's ``ready()`` leaves it alone until
  then. Attempts are counted as the reaper counts them (``worker_ids``), so raising and lost
  workers share the ``HELLO_ASYNC_TASK_MAX_ATTEMPTS`` runs; the last failure is FAILED with its
  exception.
* **Time limit.** A task running past ``HELLO_ASYNC_TASK_TIME_LIMIT`` is stopped and FAILED
  (:class:`TaskTimeLimitExceeded`), not retried; see :meth:`Worker._call` for how.
* **Fenced results.** A worker writes its task's outcome (or retry) only if the task is still
  RUNNING under its own claim (same ``started_at``), so a worker presumed dead that wakes up late
  cannot overwrite the run that replaced it.
* **Bounded graceful stop.** SIGTERM (or Ctrl-C): the current task may finish within
  ``HELLO_ASYNC_TASK_SHUTDOWN_GRACE``; past that, or on a second signal, the task is given back
  (READY) and the process exits at once. An idle worker exits within a tenth of a second.
* **Pruning.** Finished tasks older than ``HELLO_ASYNC_TASK_RETENTION`` are deleted by the
  heartbeat thread, at start and then once an hour (see hello_async.work.retention).
* **Processes.** ``--processes N`` runs N workers as child processes and restarts one that dies.

Tasks therefore run *at least once*; their effects must be idempotent (see hello_async.tasks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from inspect import iscoroutinefunction
from traceback import format_exception
from types import FrameType
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.tasks import Task
    from django_tasks_db.models import DBTaskResult

    Row = DBTaskResult[Any, Any]

logger = logging.getLogger("hello_async.work.worker")  # also when run as __main__

IDLE_SLICE = 0.1  # an idle worker notices a stop request within this many seconds
PRUNE_EVERY = 3600.0  # a worker starts a pass over finished tasks at most this often (s)


class WorkerLost(Exception):
    """The reason recorded on a task FAILED because its workers kept dying under it."""


LOST = "hello_async.work.worker.WorkerLost"


class TaskTimeLimitExceeded(BaseException):
    """The reason recorded on a task FAILED because it ran past ``HELLO_ASYNC_TASK_TIME_LIMIT``.

    A BaseException, as KeyboardInterrupt is, so the task's own ``except Exception`` does not
    swallow it and run on.
    """


def _time_limit_message(limit: float) -> str:
    return f"the task ran past its time limit of {limit:g} s (HELLO_ASYNC_TASK_TIME_LIMIT)"


class _GiveBack(BaseException):
    """Raised in the main thread to abandon the current task (grace over, or a second signal)."""


@dataclass(frozen=True)
class Reaped:
    requeued: int
    failed: int


@dataclass(frozen=True)
class WorkerConfig:
    lease: float
    max_attempts: int
    poll_interval: float
    shutdown_grace: float
    retry_backoff: float = 2.0
    retry_backoff_max: float = 300.0
    time_limit: float = 0.0  # 0: none
    retention: float = 0.0  # 0: finished tasks are kept for ever

    @classmethod
    def from_settings(cls) -> WorkerConfig:
        from django.conf import settings

        return cls(
            lease=settings.HELLO_ASYNC_TASK_LEASE,
            max_attempts=settings.HELLO_ASYNC_TASK_MAX_ATTEMPTS,
            poll_interval=settings.HELLO_ASYNC_TASK_POLL_INTERVAL,
            shutdown_grace=settings.HELLO_ASYNC_TASK_SHUTDOWN_GRACE,
            retry_backoff=settings.HELLO_ASYNC_TASK_RETRY_BACKOFF,
            retry_backoff_max=settings.HELLO_ASYNC_TASK_RETRY_BACKOFF_MAX,
            time_limit=settings.HELLO_ASYNC_TASK_TIME_LIMIT,
            retention=settings.HELLO_ASYNC_TASK_RETENTION,
        )

    def retry_delay(self, attempt: int) -> float:
        """Seconds between attempt ``attempt`` (counted from 1), which raised, and the next."""
        # The exponent is bounded so a large HELLO_ASYNC_TASK_MAX_ATTEMPTS cannot overflow it.
        return min(self.retry_backoff_max, self.retry_backoff * 2.0 ** min(attempt - 1, 64))


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# --- stale-task recovery -------------------------------------------------------------------------


def reap(*, lease: float, max_attempts: int, now: datetime | None = None) -> Reaped:
    """Give back (or fail) the RUNNING tasks whose worker is gone; safe to run from any worker."""
    from django.db.models import Q
    from django.tasks import TaskResultStatus
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult
    from django_tasks_db.utils import exclusive_transaction

    from hello_async.models import TaskWorker

    cutoff = (now or timezone.now()) - timedelta(seconds=lease)
    requeued = failed = 0
    with exclusive_transaction(DBTaskResult.objects.db):
        live = set(
            TaskWorker.objects.filter(heartbeat_at__gte=cutoff).values_list("worker_id", flat=True)
        )
        stale = DBTaskResult.objects.running().filter(Q(started_at__lt=cutoff))
        # SKIP LOCKED: a task another reaper (or its finishing worker) holds is not ours to judge.
        for db_result in stale.select_for_update(skip_locked=True):
            owner = db_result.worker_ids[-1] if db_result.worker_ids else None
            if owner in live:
                continue  # a long task on a live worker: its heartbeat keeps the lease
            attempts = len(db_result.worker_ids)
            if attempts >= max_attempts:
                reason = (
                    f"worker {owner} stopped sending heartbeats while running this task; "
                    f"{attempts} of {max_attempts} attempts used, so it is not retried again"
                )
                db_result.status = TaskResultStatus.FAILED
                db_result.finished_at = timezone.now()
                db_result.exception_class_path = LOST
                db_result.traceback = f"{LOST}: {reason}\n"
                db_result.save(
                    update_fields=["status", "finished_at", "exception_class_path", "traceback"]
                )
                logger.warning("Task %s FAILED: %s", db_result.id, reason)
                failed += 1
            else:
                db_result.status = TaskResultStatus.READY
                db_result.save(update_fields=["status"])
                logger.warning(
                    "Task %s back to READY: worker %s is gone (attempt %d of %d)",
                    db_result.id,
                    owner,
                    attempts,
                    max_attempts,
                )
                requeued += 1
        # Forget workers long dead, so the table stays the size of the fleet.
        TaskWorker.objects.filter(
            heartbeat_at__lt=cutoff - timedelta(seconds=max(lease, 60) * 10)
        ).delete()
    return Reaped(requeued=requeued, failed=failed)


# --- one worker ----------------------------------------------------------------------------------


class Worker:
    """Claims READY tasks one at a time and runs them in this (the main) thread."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        worker_id: str | None = None,
        queue_name: str = "default",
        backend_name: str = "default",
    ) -> None:
        self.config = config
        self.worker_id = worker_id or new_worker_id()
        self.queue_name = queue_name
        self.backend_name = backend_name
        self.started_at: datetime | None = None
        self.stopping = False
        self.tasks_run = 0
        self._current: Row | None = None
        self._in_task = False  # the task's own code is running: a signal may interrupt it
        # SIGALRM serves two deadlines (time.monotonic()): the time limit of a sync task, and
        # the shutdown grace once a stop signal came; ITIMER_REAL points at the nearer one.
        self._owns_alarm = False  # install_signals() ran: ITIMER_REAL and SIGALRM are ours
        self._limit_at: float | None = None
        self._grace_at: float | None = None
        self._over_limit = False  # the current task's time limit fired
        self._prune_due = 0.0  # time.monotonic() when the next pruning pass may start
        self._pruning = False  # a pass is under way, continued on the next beats

    # --- heartbeat ---------------------------------------------------------------------------

    def beat(self) -> None:
        from django.utils import timezone

        from hello_async.models import TaskWorker

        now = timezone.now()
        if self.started_at is None:
            self.started_at = now
        TaskWorker.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": self.started_at,
                "heartbeat_at": now,
            },
        )

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Register, then beat and reap from a thread of its own until the block ends."""
        from django.db import connection

        from hello_async.models import TaskWorker

        self.beat()
        done = threading.Event()
        thread = threading.Thread(target=self._beat_loop, args=(done,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=self.config.lease)
            with contextlib.suppress(Exception):
                TaskWorker.objects.filter(worker_id=self.worker_id).delete()
            connection.close()

    def _beat_loop(self, done: threading.Event) -> None:
        from django.db import connection

        period = self.config.lease / 4
        self._prune_logged()  # at start: a fleet that was down a while catches up at once
        connection.close()
        while not done.wait(period):
            try:
                self.beat()
                reap(lease=self.config.lease, max_attempts=self.config.max_attempts)
            except Exception:
                logger.exception("Worker %s: heartbeat failed (retrying)", self.worker_id)
            self._prune_logged()
            # This thread's own connection: back to the pool (or closed) between beats.
            connection.close()

    def _prune_logged(self) -> None:
        try:
            self.prune()
        except Exception:
            self._pruning = False  # the next pass in an hour, not an error every beat
            logger.exception("Worker %s: pruning finished tasks failed", self.worker_id)

    def prune(self, *, now: float | None = None, batch_size: int | None = None) -> int:
        """Run the part of a pruning pass that is due; how many finished tasks it deleted.

        A pass starts at most once every ``PRUNE_EVERY`` seconds (``now``: time.monotonic()),
        the first one at once. It deletes for an eighth of the lease at most, the rest on the
        next beats, so the heartbeat that shares this thread keeps its pace.
        """
        from hello_async.work.retention import BATCH_SIZE, finished_tasks_prune_batches

        if self.config.retention <= 0:
            return 0
        if not self._pruning:
            started = time.monotonic() if now is None else now
            if started < self._prune_due:
                return 0
            self._pruning = True
            self._prune_due = started + PRUNE_EVERY
        stop_at = time.monotonic() + self.config.lease / 8
        size = batch_size or BATCH_SIZE
        deleted = 0
        for count in finished_tasks_prune_batches(
            older_than=self.config.retention, batch_size=size
        ):
            deleted += count
            if count < size:
                self._pruning = False  # a short batch was the last
            elif time.monotonic() >= stop_at:
                break
        if deleted:
            logger.info(
                "Worker %s: deleted %d finished tasks older than %g s",
                self.worker_id,
                deleted,
                self.config.retention,
            )
        return deleted

    # --- claiming and running ----------------------------------------------------------------

    def claim(self) -> Row | None:
        from django.db import OperationalError
        from django_tasks_db.models import DBTaskResult
        from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

        ready = DBTaskResult.objects.ready().filter(
            backend_name=self.backend_name, queue_name=self.queue_name
        )
        try:
            with exclusive_transaction(ready.db):
                db_result = ready.get_locked()
                if db_result is not None:
                    db_result.claim(self.worker_id)
                return db_result
        except OperationalError as exc:
            if is_locked_database_exception(exc):  # SQLite busy past its timeout: try again
                return None
            raise

    def run_one(self) -> bool:
        """Claim and run one task; False when none was READY."""
        db_result = self.claim()
        if db_result is None:
            return False
        if self.stopping:  # the stop signal came mid-claim: hand the task on untouched
            self._give_back(db_result, db_result.started_at)
            return True
        self.run_task(db_result)
        return True

    def run_task(self, db_result: Row) -> None:
        from django.tasks import TaskContext, TaskResultStatus
        from django.tasks.signals import task_finished, task_started

        self._current = db_result
        claimed_at = db_result.started_at
        backend_type: type[Any] | None = None
        try:
            task = db_result.task
            task_result = db_result.task_result
            logger.info(
                "Worker %s: running %s %s (attempt %d)",
                self.worker_id,
                task.name,
                db_result.id,
                task_result.attempts,
            )
            backend_type = type(task.get_backend())
            task_started.send(sender=backend_type, task_result=task_result)
            args: list[object] = (
                [TaskContext(task_result=task_result)] if task.takes_context else []
            )
            self._in_task = True
            try:
                value = self._call(task, [*args, *task_result.args], task_result.kwargs)
            finally:
                self._in_task = False
                self._disarm()
        except _GiveBack:
            self._give_back(db_result, claimed_at)
            raise
        except TaskTimeLimitExceeded as exc:
            self._in_task = False  # in case the alarm fired as the task's code was left
            self._disarm()
            _reset_connection()  # the task was stopped anywhere, maybe mid-query
            logger.warning("Task %s FAILED: %s; not retried", db_result.id, exc)
            finished = self._finish(db_result, claimed_at, TaskResultStatus.FAILED, error=exc)
        except Exception as exc:
            finished = self._retry_or_fail(db_result, claimed_at, exc)
        else:
            finished = self._finish(db_result, claimed_at, TaskResultStatus.SUCCESSFUL, value=value)
            logger.info("Task %s SUCCESSFUL", db_result.id)
        finally:
            self._current = None
            self.tasks_run += 1
        if finished and backend_type is not None:
            db_result.refresh_from_db()
            task_finished.send(sender=backend_type, task_result=db_result.task_result)

    def _call(self, task: Task[Any, Any], args: list[object], kwargs: dict[str, Any]) -> Any:
        """Run the task's function in this thread (as ``task.call`` does), within the time limit.

        A sync function is interrupted where it is: SIGALRM raises TaskTimeLimitExceeded in it.
        An async function runs in an event loop thread of its own (``async_to_sync``) while this
        thread waits, running the coroutine's thread-sensitive ``sync_to_async`` calls. An
        exception raised here would only stop the waiting and leave the coroutine running on,
        unseen, so its limit is a timeout in its own loop: it is cancelled at the ``await`` it
        is in, once the sync call it may be waiting for has returned.
        """
        limit = self.config.time_limit
        self._over_limit = False
        if limit > 0 and not iscoroutinefunction(task.func):
            self._limit_at = time.monotonic() + limit
        # Also the grace's deadline, if a stop signal came (and its alarm went unheeded) while
        # the task was being set up.
        self._arm()
        if iscoroutinefunction(task.func):
            return async_to_sync(_acall_within)(limit, task.func, args, kwargs)
        try:
            value = task.func(*args, **kwargs)
        except Exception as exc:
            if self._over_limit:  # it caught TaskTimeLimitExceeded, then failed otherwise
                raise TaskTimeLimitExceeded(_time_limit_message(limit)) from exc
            raise
        if self._over_limit:  # it caught TaskTimeLimitExceeded and ran on to the end
            raise TaskTimeLimitExceeded(_time_limit_message(limit))
        return value

    def _retry_or_fail(self, db_result: Row, claimed_at: datetime | None, error: Exception) -> bool:
        """READY again after the backoff while attempts are left, else FAILED; True if FAILED."""
        from django.tasks import TaskResultStatus
        from django.utils import timezone

        attempts, max_attempts = len(db_result.worker_ids), self.config.max_attempts
        if attempts >= max_attempts:
            logger.warning(
                "Task %s FAILED: %r (attempt %d of %d, the last)",
                db_result.id,
                error,
                attempts,
                max_attempts,
            )
            return self._finish(db_result, claimed_at, TaskResultStatus.FAILED, error=error)
        delay = self.config.retry_delay(attempts)
        run_after = timezone.now() + timedelta(seconds=delay)
        # The error stays on the row while it waits (the admin shows why); the task result
        # shows it only once FAILED.
        fields = {"status": TaskResultStatus.READY, "run_after": run_after, **_error_fields(error)}
        if _ours(db_result, claimed_at).update(**fields) == 1:
            logger.warning(
                "Task %s raised %r (attempt %d of %d): runs again in %g s, at %s",
                db_result.id,
                error,
                attempts,
                max_attempts,
                delay,
                run_after.isoformat(timespec="seconds"),
            )
        else:
            self._lost_claim(db_result)
        return False

    def _finish(
        self,
        db_result: Row,
        claimed_at: datetime | None,
        status: str,
        *,
        value: Any = None,
        error: BaseException | None = None,
    ) -> bool:
        """Record the outcome if the task is still ours; False when it is not (we lost it)."""
        from django.tasks import TaskResultStatus
        from django.utils import timezone
        from django.utils.json import normalize_json

        fields: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
        if error is None:
            try:
                fields["return_value"] = normalize_json(value)
            except (TypeError, ValueError) as exc:
                error = exc
                fields["status"] = TaskResultStatus.FAILED
        if error is not None:
            fields.update(return_value=None, **_error_fields(error))
        else:  # an earlier attempt's error, kept while the task waited for its retry
            fields.update(exception_class_path="", traceback="")
        if _ours(db_result, claimed_at).update(**fields) == 1:
            return True
        self._lost_claim(db_result)
        return False

    def _lost_claim(self, db_result: Row) -> None:
        logger.warning(
            "Task %s: worker %s lost its claim while running it (presumed dead); result dropped",
            db_result.id,
            self.worker_id,
        )

    def _give_back(self, db_result: Row, claimed_at: datetime | None) -> None:
        from django.tasks import TaskResultStatus

        _reset_connection()  # the task was interrupted anywhere, maybe mid-query
        given = _ours(db_result, claimed_at).update(status=TaskResultStatus.READY)
        logger.warning("Task %s given back to the queue (READY): %d", db_result.id, given)

    def run(self, *, until_idle: bool = False, max_tasks: int | None = None) -> None:
        """Run tasks until stopped (or, with ``until_idle``, until none is READY)."""
        from django.db import close_old_connections

        while not self.stopping:
            close_old_connections()
            ran = self.run_one()
            close_old_connections()
            if max_tasks is not None and self.tasks_run >= max_tasks:
                return
            if ran:
                continue
            if until_idle:
                return
            deadline = time.monotonic() + self.config.poll_interval
            while not self.stopping and (left := deadline - time.monotonic()) > 0:
                time.sleep(min(IDLE_SLICE, left))

    # --- signals -----------------------------------------------------------------------------

    def install_signals(self) -> None:
        """Handle SIGTERM, SIGINT and SIGALRM (the main thread's; the time limit needs them)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop_signal)
        signal.signal(signal.SIGALRM, self._on_alarm)
        self._owns_alarm = True

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            if self._in_task:
                raise _GiveBack("second stop signal")
            return
        self.stopping = True
        if self._current is None:
            logger.info("Worker %s: %s, exiting", self.worker_id, signal.strsignal(signum))
            return
        logger.info(
            "Worker %s: %s, finishing task %s (up to %g s), then exiting",
            self.worker_id,
            signal.strsignal(signum),
            self._current.id,
            self.config.shutdown_grace,
        )
        self._grace_at = time.monotonic() + self.config.shutdown_grace
        self._arm()

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        """The time limit's deadline or the grace's, whichever is due: both may be armed."""
        if not self._in_task:
            return  # between task steps: the worker is finishing the task's bookkeeping
        now = time.monotonic()
        if self._limit_at is not None and now >= self._limit_at:
            # Past its limit the task is FAILED even if a stop signal came too: a re-run
            # elsewhere would only run into the same limit.
            self._limit_at = None
            self._over_limit = True
            self._arm()  # the grace's deadline, if the task catches this and runs on
            raise TaskTimeLimitExceeded(_time_limit_message(self.config.time_limit))
        if self._grace_at is not None and now >= self._grace_at:
            raise _GiveBack("shutdown grace over")
        self._arm()  # woken before either deadline: sleep again until the nearer

    def _arm(self) -> None:
        """Point ITIMER_REAL at the nearer deadline (one already past fires at once)."""
        deadlines = [at for at in (self._limit_at, self._grace_at) if at is not None]
        if deadlines and self._owns_alarm:
            signal.setitimer(signal.ITIMER_REAL, max(min(deadlines) - time.monotonic(), 1e-6))

    def _disarm(self) -> None:
        """The task's code is done: neither deadline may interrupt the bookkeeping after it."""
        self._limit_at = None
        if self._owns_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)


# --- helpers -------------------------------------------------------------------------------------


def _ours(db_result: Row, claimed_at: datetime | None) -> QuerySet[Row]:
    """The task's row if it is still RUNNING under this claim: the fence of every write."""
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        id=db_result.id, status=TaskResultStatus.RUNNING, started_at=claimed_at
    )


def _error_fields(error: BaseException) -> dict[str, str]:
    exc_type = type(error)
    return {
        "exception_class_path": f"{exc_type.__module__}.{exc_type.__qualname__}",
        "traceback": "".join(format_exception(error)),
    }


def _reset_connection() -> None:
    """Close this thread's connection, which an interrupted task may have left mid-query."""
    from django.db import connection

    with contextlib.suppress(Exception):
        connection.close()


async def _acall_within(
    limit: float,
    func: Callable[..., Awaitable[Any]],
    args: list[object],
    kwargs: dict[str, Any],
) -> Any:
    """Await ``func``, cancelled after ``limit`` seconds (0: no limit); in its loop's thread."""
    if limit <= 0:
        return await func(*args, **kwargs)
    within = asyncio.timeout(limit)
    try:
        async with within:
            value = await func(*args, **kwargs)
    except Exception as exc:  # the timeout's TimeoutError, or what the cancelled task raised
        if within.expired():
            raise TaskTimeLimitExceeded(_time_limit_message(limit)) from exc
        raise
    if within.expired():  # it caught the cancellation and ran on to the end
        raise TaskTimeLimitExceeded(_time_limit_message(limit))
    return value


# --- the command ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hello-async worker",
        description="Run task workers on the database queue (Django Tasks, django-tasks-db).",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="worker processes (default: %(default)s)"
    )
    parser.add_argument("--queue", default="default", help="queue name (default: %(default)s)")
    parser.add_argument(
        "--parent", type=int, default=0, help="stop (gracefully) when this process is gone"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.processes < 1:
        print("hello-async worker: --processes must be 1 or more", file=sys.stderr)
        return 2
    if args.processes > 1:
        return supervise(args.processes, queue=args.queue)
    return run_worker(queue=args.queue, parent=args.parent)


def run_worker(*, queue: str = "default", parent: int = 0) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")
    django.setup()
    worker = Worker(WorkerConfig.from_settings(), queue_name=queue)
    worker.install_signals()
    if parent:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    logger.info(
        "Task worker %s ready (queue %s, lease %g s, max attempts %d, time limit %s)",
        worker.worker_id,
        queue,
        worker.config.lease,
        worker.config.max_attempts,
        f"{worker.config.time_limit:g} s" if worker.config.time_limit > 0 else "none",
    )
    try:
        with worker.heartbeat():
            worker.run()
    except _GiveBack:
        logging.shutdown()
        # The task's event-loop thread may still be waiting on this thread: do not join it.
        os._exit(1)
    logger.info("Task worker %s stopped after %d tasks", worker.worker_id, worker.tasks_run)
    return 0


def _watch_parent(parent: int) -> None:
    """A SIGKILLed parent (``hello-async`` serve) leaves no orphan: stop as on SIGTERM."""
    while os.getppid() == parent:
        time.sleep(0.5)
    logger.warning("Parent process %d is gone: stopping", parent)
    os.kill(os.getpid(), signal.SIGTERM)


def supervise(processes: int, *, queue: str) -> int:
    """Run ``processes`` single workers as children; restart one that dies; stop all on signal."""
    argv = [sys.executable, "-m", "hello_async.cli", "worker", "--queue", queue]
    # Sessions of their own: a terminal's Ctrl-C reaches only this process, which forwards it
    # once (a second signal would make a worker give its task back at once).
    children = [subprocess.Popen(argv, start_new_session=True) for _ in range(processes)]
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping.is_set():
            for i, child in enumerate(children):
                code = child.poll()
                if code is not None and not stopping.is_set():
                    print(
                        f"hello-async worker: process {child.pid} exited ({code}), restarting",
                        file=sys.stderr,
                        flush=True,
                    )
                    children[i] = subprocess.Popen(argv, start_new_session=True)
            stopping.wait(1.0)
        for child in children:
            try:
                child.wait(timeout=_grace() + 10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _grace() -> float:
    try:
        return float(os.environ.get("HELLO_ASYNC_TASK_SHUTDOWN_GRACE") or 30.0)
    except ValueError:
        return 30.0  # the workers themselves report the bad value
