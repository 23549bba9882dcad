"""The task time limit in process: sync and async tasks stopped and FAILED, the worker healthy.

The worker's signal handlers are installed here as ``hello-async worker`` installs them (the sync
limit is SIGALRM in the main thread), so these tests time out with pytest-timeout's thread method
instead of its SIGALRM one; the handlers are restored after each test.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator

import pytest
from django.tasks import Task, TaskResultStatus
from django_tasks_db.models import DBTaskResult

from hello_async.models import SmokeLedger
from hello_async.work.tasks import smoke_order
from hello_async.work.worker import Worker, WorkerConfig
from hello_async.work.worker.errors import _GiveBack
from tests.support import task_functions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60, method="thread")]

LIMIT = 0.5
LONG = 30.0  # far past any limit here: a task that sleeps this long was not stopped
LIMITED = "hello_async.work.worker.TaskTimeLimitExceeded"
SLEEPERS = [task_functions.sleep_sync, task_functions.sleep_async]

MakeWorker = Callable[..., Worker]


@pytest.fixture
def make_worker() -> Iterator[MakeWorker]:
    """Workers with their signal handlers installed; the test process's handlers restored."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    saved[signal.SIGALRM] = signal.getsignal(signal.SIGALRM)

    def make(*, time_limit: float = LIMIT, shutdown_grace: float = 5.0) -> Worker:
        config = WorkerConfig(
            lease=5,
            max_attempts=3,
            poll_interval=0.01,
            shutdown_grace=shutdown_grace,
            time_limit=time_limit,
        )
        worker = Worker(config, worker_id="limited")
        worker.beat()
        worker.install_signals()
        return worker

    try:
        yield make
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def run_timed(worker: Worker) -> float:
    started = time.monotonic()
    assert worker.run_one()
    return time.monotonic() - started


@pytest.mark.parametrize("sleeper", SLEEPERS, ids=["sync", "async"])
def test_a_task_past_its_time_limit_is_failed_not_retried_and_the_worker_runs_the_next(
    make_worker: MakeWorker, sleeper: Task[..., str]
) -> None:
    worker = make_worker()
    slow = sleeper.enqueue(seconds=LONG)
    quick = sleeper.enqueue(seconds=0)

    assert LIMIT <= run_timed(worker) < LONG / 2
    slow.refresh()
    assert slow.status == TaskResultStatus.FAILED
    assert slow.attempts == 1  # not retried
    (error,) = slow.errors
    assert error.exception_class_path == LIMITED
    assert "time limit of 0.5 s (HELLO_ASYNC_TASK_TIME_LIMIT)" in error.traceback

    assert worker.run_one()
    quick.refresh()
    assert quick.status == TaskResultStatus.SUCCESSFUL
    assert quick.return_value == "woke up"


def test_an_async_task_past_its_limit_is_cancelled_not_left_running(
    make_worker: MakeWorker,
) -> None:
    worker = make_worker()
    slow = task_functions.sleep_async.enqueue(seconds=LONG)
    assert worker.run_one()
    # Cancelled at its await before run_one returned: no coroutine runs on unseen.
    assert slow.id in task_functions.CANCELLED
    # The next async task's ORM calls still reach this (the worker's main) thread.
    order = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    assert worker.run_one()
    order.refresh()
    assert order.status == TaskResultStatus.SUCCESSFUL
    assert SmokeLedger.objects.filter(idempotency_key=order.id).count() == 1


@pytest.mark.parametrize(
    "stubborn",
    [task_functions.sleep_sync_through_anything, task_functions.sleep_async_through_cancel],
    ids=["sync", "async"],
)
def test_a_task_that_catches_its_stop_and_returns_is_failed_all_the_same(
    make_worker: MakeWorker, stubborn: Task[..., str]
) -> None:
    result = stubborn.enqueue(seconds=LONG)
    assert run_timed(make_worker()) < LONG / 2
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == LIMITED


@pytest.mark.parametrize("sleeper", SLEEPERS, ids=["sync", "async"])
def test_no_time_limit_lets_a_task_run_on(make_worker: MakeWorker, sleeper: Task[..., str]) -> None:
    result = sleeper.enqueue(seconds=LIMIT * 3)
    assert run_timed(make_worker(time_limit=0)) >= LIMIT * 3
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL


def test_the_time_limit_fires_inside_the_shutdown_grace(make_worker: MakeWorker) -> None:
    worker = make_worker(time_limit=LIMIT, shutdown_grace=LONG)
    result = task_functions.stop_the_worker_then_sleep.enqueue(seconds=LONG)
    assert run_timed(worker) < LONG / 2
    assert worker.stopping
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == LIMITED


def test_the_shutdown_grace_ends_before_the_time_limit(make_worker: MakeWorker) -> None:
    worker = make_worker(time_limit=LONG, shutdown_grace=LIMIT)
    result = task_functions.stop_the_worker_then_sleep.enqueue(seconds=LONG)
    started = time.monotonic()
    with pytest.raises(_GiveBack):
        worker.run_one()
    assert time.monotonic() - started < LONG / 2
    assert DBTaskResult.objects.get(id=result.id).status == TaskResultStatus.READY
