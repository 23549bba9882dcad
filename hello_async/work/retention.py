"""Finished tasks past their retention: deleted in bounded batches, by the workers and a command.

A finished task (SUCCESSFUL or FAILED) is a row in django-tasks-db's queue table that nothing
reads again once its client has seen the outcome. Rows whose ``finished_at`` is older than
``HELLO_ASYNC_TASK_RETENTION`` are deleted by every task worker's heartbeat thread (see
hello_async.work.worker.pruning) and by ``python manage.py prune_tasks``.

Each batch is one ``DELETE ... WHERE id IN (SELECT id ... LIMIT n FOR UPDATE SKIP LOCKED)``, its
own short transaction: a large backlog never becomes one long transaction holding locks on the
queue table, and on PostgreSQL two workers pruning at once skip each other's rows instead of
deadlocking (SQLite, which has no row locks, runs one writer at a time anyway).
Only queue rows go: the effects tasks recorded (``SmokeLedger``) are separate rows, kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

if TYPE_CHECKING:
    from django.db.models import QuerySet

BATCH_SIZE = 1000


def finished_tasks_past(
    *, older_than: float, now: datetime | None = None
) -> QuerySet[DBTaskResult[Any, Any]]:
    """Tasks SUCCESSFUL or FAILED more than ``older_than`` seconds before ``now``."""
    try:
        cutoff = (now or timezone.now()) - timedelta(seconds=older_than)
    except OverflowError:  # before year 1: nothing finished that long ago
        return DBTaskResult.objects.none()
    return DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED],
        finished_at__lt=cutoff,
    )


def finished_tasks_prune_batches(
    *, older_than: float, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> Iterator[int]:
    """Delete the finished tasks past ``older_than`` seconds a batch at a time, yielding each count.

    The caller may stop between batches (a worker's heartbeat thread keeps its pace that way).
    """
    old = finished_tasks_past(older_than=older_than, now=now).order_by()
    while True:
        batch = old.select_for_update(skip_locked=True).values("pk")[:batch_size]
        deleted, _ = DBTaskResult.objects.filter(pk__in=batch).delete()
        yield deleted
        if deleted < batch_size:
            return


def finished_tasks_prune(
    *, older_than: float, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> int:
    """Delete every finished task past ``older_than`` seconds; how many were deleted."""
    return sum(finished_tasks_prune_batches(older_than=older_than, now=now, batch_size=batch_size))
