"""Stale-task recovery: a RUNNING task whose worker is gone goes back to READY, or is FAILED.

A task RUNNING for longer than the lease whose worker sent no heartbeat within the lease
(SIGKILL, OOM, a lost machine) is given back. Its attempt count is its ``worker_ids`` (one per
claim, as ``TaskResult.attempts`` counts); once lost workers and raising runs together have used
``max_attempts``, it is FAILED with :class:`WorkerLost` instead. Every worker's heartbeat thread
runs :func:`reap`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from hello_async.work.worker.errors import LOST

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reaped:
    requeued: int
    failed: int


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
