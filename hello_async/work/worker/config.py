"""A worker's settings (the ``HELLO_ASYNC_TASK_*`` ones) and its id."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass


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
    listen: bool = False  # on PostgreSQL, woken by NOTIFY (hello_async.work.worker.wakeup)

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
            listen=settings.HELLO_ASYNC_TASK_LISTEN,
        )

    def retry_delay(self, attempt: int) -> float:
        """Seconds between attempt ``attempt`` (counted from 1), which raised, and the next."""
        # The exponent is bounded so a large HELLO_ASYNC_TASK_MAX_ATTEMPTS cannot overflow it.
        return min(self.retry_backoff_max, self.retry_backoff * 2.0 ** min(attempt - 1, 64))


def new_worker_id() -> str:
    """Host, pid and a random suffix: unique across the fleet, and says where the worker runs."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
