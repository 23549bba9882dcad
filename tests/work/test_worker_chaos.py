"""Chaos on PostgreSQL: 500 orders, 3 workers, a random worker SIGKILLed every few seconds.

Every order must end SUCCESSFUL with its effect in the ledger exactly once, within 60 s of the
last kill. Runs only on PostgreSQL (several processes claiming with SKIP LOCKED).
"""

from __future__ import annotations

import os
import random
import sys
import time

import pytest
from django.db import connection, connections
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from hello_async.models import SmokeLedger
from hello_async.work.tasks import smoke_order
from tests.support.servers import Process
from tests.support.workers import worker_database_url

TASKS = 500
WORKERS = 3
RECOVERY_DEADLINE = 60.0

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


def start_worker(env: dict[str, str]) -> Process:
    return Process([sys.executable, "-m", "hello_async.cli", "worker"], env=env)


def test_every_order_survives_random_sigkills_and_is_recorded_exactly_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: set DATABASE_URL=postgres://... (CI runs it there)")
    ids = {smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's").id for _ in range(TASKS)}
    connections.close_all()
    env = {
        "DATABASE_URL": worker_database_url(),
        "HELLO_ASYNC_TIME_SCALE": "0.08",  # 80 ms of smoking per order
        "HELLO_ASYNC_TASK_LEASE": "2",
        "HELLO_ASYNC_TASK_MAX_ATTEMPTS": "10",
        "HELLO_ASYNC_TASK_POLL_INTERVAL": "0.05",
        "HELLO_ASYNC_LOG_LEVEL": "WARNING",
        "DATABASE_POOL_MAX": "3",
    }
    rng = random.Random(os.getpid())
    workers = [start_worker(env) for _ in range(WORKERS)]
    kills = 0
    last_kill = started = time.monotonic()
    try:
        # Kill while there is work left to interrupt, for at most a minute.
        while time.monotonic() - started < 60 and (
            DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() > TASKS // 10
        ):
            time.sleep(rng.uniform(1.5, 3.0))
            victim = rng.randrange(WORKERS)
            workers[victim].popen.kill()
            workers[victim].wait()
            last_kill = time.monotonic()
            kills += 1
            workers[victim] = start_worker(env)
        deadline = last_kill + RECOVERY_DEADLINE
        while DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists():
            assert time.monotonic() < deadline, "orders still unfinished 60 s after the last kill"
            time.sleep(0.2)
        finished = time.monotonic()
    finally:
        for process in workers:
            process.terminate(timeout=30)
        connections.close_all()

    rows = DBTaskResult.objects.filter(id__in=ids)
    assert rows.filter(status=TaskResultStatus.SUCCESSFUL).count() == TASKS
    assert SmokeLedger.objects.count() == TASKS
    assert set(SmokeLedger.objects.values_list("idempotency_key", flat=True)) == ids
    retried = sum(1 for row in rows.only("worker_ids") if len(row.worker_ids) > 1)
    assert kills >= 3
    assert retried >= 1, "no kill interrupted a task: the recovery path was not exercised"
    print(
        f"\nchaos: {TASKS} orders, {WORKERS} workers, {kills} SIGKILLs, {retried} orders re-run, "
        f"all SUCCESSFUL {finished - last_kill:.1f} s after the last kill "
        f"({finished - started:.1f} s in all)"
    )
