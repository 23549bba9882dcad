"""A worker's heartbeat: its row while it runs, and the thread that reaps beside the task loop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone

from hello_async.models import TaskWorker
from hello_async.work.tasks import smoke_order
from hello_async.work.worker import Worker, WorkerConfig
from tests.support.workers import CONFIG, LEASE, claimed_by_dead_worker, status

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_heartbeat_registers_the_worker_and_removes_it_at_exit() -> None:
    live = Worker(CONFIG, worker_id="beating")
    with live.heartbeat():
        row = TaskWorker.objects.get(worker_id="beating")
        assert row.heartbeat_at >= timezone.now() - timedelta(seconds=LEASE)
    assert not TaskWorker.objects.filter(worker_id="beating").exists()


def test_the_heartbeat_thread_reaps_while_the_worker_runs() -> None:
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite's in-memory test database locks whole tables across threads regardless of"
            " the busy timeout; tests/work/test_worker_process.py covers this on an SQLite file"
        )
    result = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    claimed_by_dead_worker(result.id)
    fast = Worker(
        WorkerConfig(lease=0.4, max_attempts=3, poll_interval=0.01, shutdown_grace=1),
        worker_id="fast",
    )
    deadline = timezone.now() + timedelta(seconds=20)
    with fast.heartbeat():
        while status(result.id) == TaskResultStatus.RUNNING and timezone.now() < deadline:
            fast.run_one()
    assert status(result.id) != TaskResultStatus.RUNNING
