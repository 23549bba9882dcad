"""One worker: claims READY tasks one at a time and runs them in this (the main) thread.

Idle, it waits on its wakeup (hello_async.work.worker.wakeup): a PostgreSQL notification, or the
poll interval. A task that raises is retried after a backoff, one past its time limit is FAILED,
one claimed or running as the worker stops is given back; what each run leaves on the row is
written by hello_async.work.worker.results, fenced on the run's own claim.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from hello_async.work.worker import results
from hello_async.work.worker.config import WorkerConfig, new_worker_id
from hello_async.work.worker.errors import TaskTimeLimitExceeded, _GiveBack
from hello_async.work.worker.heartbeat import Heartbeat
from hello_async.work.worker.interrupts import Interrupts
from hello_async.work.worker.pruning import Pruner
from hello_async.work.worker.time_limit import call_within_limit
from hello_async.work.worker.wakeup import Poll, Wakeup

if TYPE_CHECKING:
    from django_tasks_db.models import DBTaskResult

    Row = DBTaskResult[Any, Any]

logger = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        *,
        worker_id: str | None = None,
        queue_name: str = "default",
        backend_name: str = "default",
        wakeup: Wakeup | None = None,
    ) -> None:
        self.config = config
        self.wakeup: Wakeup = wakeup or Poll()
        self.worker_id = worker_id or new_worker_id()
        self.queue_name = queue_name
        self.backend_name = backend_name
        self.tasks_run = 0
        self.interrupts = Interrupts(config, self.worker_id)
        self._pruner = Pruner(config, self.worker_id)
        self._heartbeat = Heartbeat(config, self.worker_id, pruner=self._pruner)

    @property
    def stopping(self) -> bool:
        """A stop signal came (or a caller asked): no task is claimed after the current one."""
        return self.interrupts.stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self.interrupts.stopping = value

    def install_signals(self) -> None:
        """Handle SIGTERM, SIGINT and SIGALRM (the main thread's; the time limit needs them)."""
        self.interrupts.install()

    def beat(self) -> None:
        self._heartbeat.beat()

    def heartbeat(self) -> AbstractContextManager[None]:
        """Register, then beat, reap and prune from a thread of its own until the block ends."""
        return self._heartbeat.running()

    def prune(self, *, now: float | None = None, batch_size: int | None = None) -> int:
        """Run the part of a pruning pass that is due; how many finished tasks it deleted."""
        return self._pruner.prune(now=now, batch_size=batch_size)

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
            results.give_back(db_result, db_result.started_at)
            return True
        self.run_task(db_result)
        return True

    def run_task(self, db_result: Row) -> None:
        from django.tasks import TaskContext, TaskResultStatus
        from django.tasks.signals import task_finished, task_started

        interrupts = self.interrupts
        interrupts.current = db_result
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
            interrupts.in_task = True
            try:
                value = call_within_limit(
                    task,
                    [*args, *task_result.args],
                    task_result.kwargs,
                    limit=self.config.time_limit,
                    interrupts=interrupts,
                )
            finally:
                interrupts.leave_task()
        except _GiveBack:
            results.give_back(db_result, claimed_at)
            raise
        except TaskTimeLimitExceeded as exc:
            interrupts.leave_task()  # in case the alarm fired as the task's code was left
            results.reset_connection()  # the task was stopped anywhere, maybe mid-query
            logger.warning("Task %s FAILED: %s; not retried", db_result.id, exc)
            finished = results.finish(
                db_result, claimed_at, TaskResultStatus.FAILED, worker_id=self.worker_id, error=exc
            )
        except Exception as exc:
            finished = results.retry_or_fail(
                db_result, claimed_at, exc, config=self.config, worker_id=self.worker_id
            )
        else:
            finished = results.finish(
                db_result,
                claimed_at,
                TaskResultStatus.SUCCESSFUL,
                worker_id=self.worker_id,
                value=value,
            )
            logger.info("Task %s SUCCESSFUL", db_result.id)
        finally:
            interrupts.current = None
            self.tasks_run += 1
        if finished and backend_type is not None:
            db_result.refresh_from_db()
            task_finished.send(sender=backend_type, task_result=db_result.task_result)

    def run(self, *, until_idle: bool = False, max_tasks: int | None = None) -> None:
        """Run tasks until stopped (or, with ``until_idle``, until none is READY)."""
        from django.db import close_old_connections

        while not self.stopping:
            close_old_connections()
            self.wakeup.clear()  # before the claim: a notification after it is a new task
            ran = self.run_one()
            close_old_connections()
            if max_tasks is not None and self.tasks_run >= max_tasks:
                return
            if ran:
                continue
            if until_idle:
                return
            self.wakeup.wait(self.config.poll_interval, lambda: self.stopping)
