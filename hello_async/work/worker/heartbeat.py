"""A worker's liveness: its ``TaskWorker`` row, beaten every quarter lease from a thread of its own.

The thread is not the one running tasks, so a long task does not look like a dead worker. Between
beats it also runs the fleet's chores: stale-task recovery (reap) and pruning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from datetime import datetime

from hello_async.work.worker.config import WorkerConfig
from hello_async.work.worker.pruning import Pruner
from hello_async.work.worker.recovery import reap

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, config: WorkerConfig, worker_id: str, *, pruner: Pruner) -> None:
        self.config = config
        self.worker_id = worker_id
        self.pruner = pruner
        self.started_at: datetime | None = None

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
    def running(self) -> Iterator[None]:
        """Register, then beat and reap from a thread of its own until the block ends."""
        from django.db import connection

        from hello_async.models import TaskWorker

        self.beat()
        done = threading.Event()
        thread = threading.Thread(target=self._loop, args=(done,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=self.config.lease)
            with contextlib.suppress(Exception):
                TaskWorker.objects.filter(worker_id=self.worker_id).delete()
            connection.close()

    def _loop(self, done: threading.Event) -> None:
        from django.db import connection

        period = self.config.lease / 4
        self.pruner.prune_logged()  # at start: a fleet that was down a while catches up at once
        connection.close()
        while not done.wait(period):
            try:
                self.beat()
                reap(lease=self.config.lease, max_attempts=self.config.max_attempts)
            except Exception:
                logger.exception("Worker %s: heartbeat failed (retrying)", self.worker_id)
            self.pruner.prune_logged()
            # This thread's own connection: back to the pool (or closed) between beats.
            connection.close()
