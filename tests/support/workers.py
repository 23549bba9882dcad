"""Task workers in the test process, the rows a dead worker leaves behind, workers' processes."""

from __future__ import annotations

import os
import select
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from hello_async.models import TaskWorker
from hello_async.work.worker import Worker, WorkerConfig

LEASE = 5.0
BACKOFF = 60.0
CONFIG = WorkerConfig(
    lease=LEASE,
    max_attempts=3,
    poll_interval=0.01,
    shutdown_grace=5,
    retry_backoff=BACKOFF,
    retry_backoff_max=100.0,  # so the second retry's 120 s are cut to 100
)


def worker(worker_id: str = "live") -> Worker:
    """A worker with ``CONFIG``, registered (one heartbeat), its heartbeat thread not started."""
    live = Worker(CONFIG, worker_id=worker_id)
    live.beat()
    return live


def claimed_by_dead_worker(task_id: str, *, times: int = 1) -> DBTaskResult:
    """The task as a SIGKILLed worker leaves it: RUNNING, claimed a lease and more ago."""
    long_ago = timezone.now() - timedelta(seconds=LEASE * 3)
    TaskWorker.objects.create(
        worker_id="dead", hostname="h", pid=1, started_at=long_ago, heartbeat_at=long_ago
    )
    row = DBTaskResult.objects.get(id=task_id)
    for _ in range(times):
        row.claim("dead")
    DBTaskResult.objects.filter(id=task_id).update(started_at=long_ago)
    return DBTaskResult.objects.get(id=task_id)


def status(task_id: str) -> str:
    return DBTaskResult.objects.get(id=task_id).status


def run_after(task_id: str) -> datetime:
    return DBTaskResult.objects.get(id=task_id).run_after


def backoff_over(task_id: str) -> None:
    """Move the retry's ``run_after`` into the past, as the backoff's wait would."""
    DBTaskResult.objects.filter(id=task_id).update(run_after=timezone.now() - timedelta(seconds=1))


def worker_database_url() -> str:
    """DATABASE_URL of pytest-django's test database (PostgreSQL), for worker processes."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def exited_within(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` (not necessarily our child) exits within ``timeout`` seconds.

    A pidfd becomes readable when the process exits, reaped or not: no polling of /proc.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)
