"""What a run leaves on its task's row: the outcome, a retry or the task given back, fenced.

Every write is conditional on the task being still RUNNING under the run's own claim (the same
``started_at``): a worker presumed dead that wakes up late cannot overwrite the run that replaced
it; its write matches no row, and is dropped with a warning.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from traceback import format_exception
from typing import TYPE_CHECKING, Any

from hello_async.work.signals import task_requeued
from hello_async.work.worker.config import WorkerConfig

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django_tasks_db.models import DBTaskResult

    Row = DBTaskResult[Any, Any]

logger = logging.getLogger(__name__)


def finish(
    db_result: Row,
    claimed_at: datetime | None,
    status: str,
    *,
    worker_id: str,
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
    _lost_claim(db_result, worker_id)
    return False


def retry_or_fail(
    db_result: Row,
    claimed_at: datetime | None,
    error: Exception,
    *,
    config: WorkerConfig,
    worker_id: str,
) -> bool:
    """READY again after the backoff while attempts are left, else FAILED; True if FAILED."""
    from django.tasks import TaskResultStatus
    from django.utils import timezone

    # Counted as the reaper counts them (one per claim): raising and lost runs share the budget.
    attempts, max_attempts = len(db_result.worker_ids), config.max_attempts
    if attempts >= max_attempts:
        logger.warning(
            "Task %s FAILED: %r (attempt %d of %d, the last)",
            db_result.id,
            error,
            attempts,
            max_attempts,
        )
        return finish(
            db_result, claimed_at, TaskResultStatus.FAILED, worker_id=worker_id, error=error
        )
    delay = config.retry_delay(attempts)
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
        task_requeued.send(sender=type(db_result), task_id=str(db_result.id))  # the board
    else:
        _lost_claim(db_result, worker_id)
    return False


def give_back(db_result: Row, claimed_at: datetime | None) -> None:
    """READY again at once, unrun or abandoned mid-run (a stop), attempts unchanged."""
    from django.tasks import TaskResultStatus

    reset_connection()  # the task was interrupted anywhere, maybe mid-query
    given = _ours(db_result, claimed_at).update(status=TaskResultStatus.READY)
    logger.warning("Task %s given back to the queue (READY): %d", db_result.id, given)


def reset_connection() -> None:
    """Close this thread's connection, which an interrupted task may have left mid-query."""
    from django.db import connection

    with contextlib.suppress(Exception):
        connection.close()


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


def _lost_claim(db_result: Row, worker_id: str) -> None:
    logger.warning(
        "Task %s: worker %s lost its claim while running it (presumed dead); result dropped",
        db_result.id,
        worker_id,
    )
