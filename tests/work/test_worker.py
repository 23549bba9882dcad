"""The task worker in process: outcomes, retries, stale-task recovery, fencing, heartbeats."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from hello_async.models import SmokeLedger, TaskWorker
from hello_async.tasks import smoke_order
from hello_async.work import worker as worker_module
from hello_async.work.worker import Worker, WorkerConfig, reap
from tests.support import task_functions

pytestmark = pytest.mark.django_db(transaction=True)

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


def test_the_status_is_running_while_the_task_runs_then_successful() -> None:
    result = task_functions.own_status.enqueue()
    assert status(result.id) == TaskResultStatus.READY
    assert worker().run_one()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == "RUNNING"  # what the task saw of itself
    assert result.worker_ids == ["live"]
    assert result.started_at is not None and result.finished_at is not None


def test_a_task_that_raises_is_retried_after_the_backoff_and_succeeds_on_its_third_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = task_functions.light_on_third_try.enqueue()
    live = worker()
    for attempt, delay in ((1, BACKOFF), (2, 100.0)):  # 60 s, then 120 s capped at 100
        before = timezone.now()
        assert live.run_one()
        after = timezone.now()
        assert status(result.id) == TaskResultStatus.READY
        assert before + timedelta(seconds=delay) <= run_after(result.id)
        assert run_after(result.id) <= after + timedelta(seconds=delay)
        assert not live.run_one()  # still waiting for its backoff
        (record,) = [r for r in caplog.records if f"(attempt {attempt} of 3)" in r.getMessage()]
        assert record.levelno == logging.WARNING
        assert f"runs again in {delay:g} s, at {run_after(result.id):%Y-%m-%dT%H:%M:%S}" in (
            record.getMessage()
        )
        backoff_over(result.id)
    assert live.run_one()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3
    assert result.attempts == 3
    assert result.errors == []
    assert DBTaskResult.objects.get(id=result.id).traceback == ""  # the retries' error cleared


def test_a_task_that_always_raises_is_failed_with_its_exception_after_max_attempts() -> None:
    result = task_functions.run_out_of_charcoal.enqueue()
    live = worker()
    for _ in range(2):
        assert live.run_one()
        assert status(result.id) == TaskResultStatus.READY
        backoff_over(result.id)
    assert live.run_one()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3
    assert result.errors[0].exception_class_path == "tests.support.task_functions.NoCharcoal"
    assert "the smoker is out of charcoal" in result.errors[0].traceback
    backoff_over(result.id)
    assert not live.run_one()  # FAILED is final


def test_raising_and_lost_workers_share_the_attempts() -> None:
    result = task_functions.run_out_of_charcoal.enqueue()
    assert worker().run_one()  # attempt 1 raises
    assert status(result.id) == TaskResultStatus.READY
    backoff_over(result.id)
    claimed_by_dead_worker(result.id)  # attempt 2 is lost with its worker
    assert reap(lease=LEASE, max_attempts=3) == worker_module.Reaped(requeued=1, failed=0)
    assert worker().run_one()  # attempt 3 raises: the last
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.worker_ids == ["live", "dead", "live"]
    assert result.errors[0].exception_class_path == "tests.support.task_functions.NoCharcoal"


def test_a_worker_that_lost_its_claim_does_not_requeue_the_new_run() -> None:
    result = task_functions.run_out_of_charcoal.enqueue()
    slow = worker("slow")
    row = slow.claim()
    assert row is not None
    DBTaskResult.objects.filter(id=result.id).update(status=TaskResultStatus.READY)
    assert worker("other").claim() is not None

    assert not slow._retry_or_fail(row, row.started_at, ValueError("x"))
    assert status(result.id) == TaskResultStatus.RUNNING
    assert run_after(result.id) > timezone.now() + timedelta(days=365)  # none set


def test_the_backoff_doubles_up_to_its_maximum() -> None:
    config = WorkerConfig(
        lease=1, max_attempts=99, poll_interval=1, shutdown_grace=1, retry_backoff=2.0
    )
    assert [config.retry_delay(n) for n in range(1, 11)] == [
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        300,
        300,
    ]
    assert config.retry_delay(10_000) == 300


def test_a_result_that_is_not_json_fails_the_task() -> None:
    result = task_functions.not_json.enqueue()
    worker().run(until_idle=True)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "builtins.TypeError"


def test_no_task_ready_means_run_one_is_false() -> None:
    assert not worker().run_one()


def test_a_task_left_running_by_a_dead_worker_goes_back_to_ready_then_completes_once() -> None:
    result = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    claimed_by_dead_worker(result.id)
    # The dead worker had written the effect before it died: the re-run must not add another.
    SmokeLedger.objects.create(
        idempotency_key=result.id,
        meats=["ribs"],
        flavor="Famous Dave's",
        attempt=1,
        worker_id="dead",
    )

    assert reap(lease=LEASE, max_attempts=3) == worker_module.Reaped(requeued=1, failed=0)
    assert status(result.id) == TaskResultStatus.READY

    worker().run(until_idle=True)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.worker_ids == ["dead", "live"]
    assert result.attempts == 2
    assert SmokeLedger.objects.count() == 1
    assert result.return_value["ledger_id"] == SmokeLedger.objects.get().pk


def test_a_task_on_a_live_worker_is_left_alone_however_long_it_runs() -> None:
    result = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    long_ago = timezone.now() - timedelta(seconds=LEASE * 3)
    busy = worker("busy")
    busy.claim()
    DBTaskResult.objects.filter(id=result.id).update(started_at=long_ago)
    assert reap(lease=LEASE, max_attempts=3) == worker_module.Reaped(requeued=0, failed=0)
    assert status(result.id) == TaskResultStatus.RUNNING


def test_a_fresh_claim_by_a_silent_worker_waits_for_the_lease() -> None:
    result = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    DBTaskResult.objects.get(id=result.id).claim("never-registered")
    assert reap(lease=LEASE, max_attempts=3).requeued == 0
    later = timezone.now() + timedelta(seconds=LEASE + 1)
    assert reap(lease=LEASE, max_attempts=3, now=later).requeued == 1


def test_after_max_attempts_a_lost_task_is_failed_with_the_reason() -> None:
    result = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    claimed_by_dead_worker(result.id, times=3)
    assert reap(lease=LEASE, max_attempts=3) == worker_module.Reaped(requeued=0, failed=1)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3
    assert result.errors[0].exception_class_path == "hello_async.work.worker.WorkerLost"
    assert "worker dead stopped sending heartbeats" in result.errors[0].traceback
    assert "3 of 3 attempts" in result.errors[0].traceback
    assert not worker().run_one()  # FAILED is final


def test_a_worker_that_lost_its_claim_does_not_overwrite_the_new_run() -> None:
    result = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    slow = worker("slow")
    row = slow.claim()
    assert row is not None
    # Presumed dead: reaped and claimed again by another worker before it finished.
    DBTaskResult.objects.filter(id=result.id).update(status=TaskResultStatus.READY)
    other = worker("other").claim()
    assert other is not None and other.started_at != row.started_at

    assert not slow._finish(row, row.started_at, TaskResultStatus.FAILED, error=ValueError("x"))
    assert status(result.id) == TaskResultStatus.RUNNING
    assert DBTaskResult.objects.get(id=result.id).worker_ids == ["slow", "other"]


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


def test_worker_command_rejects_zero_processes(capsys: pytest.CaptureFixture[str]) -> None:
    assert worker_module.main(["--processes", "0"]) == 2
    assert "--processes must be 1 or more" in capsys.readouterr().err


def test_a_task_claimed_as_the_stop_signal_arrives_is_given_back_unrun() -> None:
    result = task_functions.own_status.enqueue()
    stopping = worker()
    stopping.stopping = True
    assert stopping.run_one()
    result.refresh()
    assert result.status == TaskResultStatus.READY
    assert stopping.tasks_run == 0
