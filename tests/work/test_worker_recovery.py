"""Stale-task recovery: a dead worker's task goes back to READY, or FAILED past its attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from hello_async.models import SmokeLedger
from hello_async.work.tasks import smoke_order
from hello_async.work.worker import Reaped, reap
from tests.support import task_functions
from tests.support.workers import LEASE, backoff_over, claimed_by_dead_worker, status, worker

pytestmark = pytest.mark.django_db(transaction=True)


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

    assert reap(lease=LEASE, max_attempts=3) == Reaped(requeued=1, failed=0)
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
    assert reap(lease=LEASE, max_attempts=3) == Reaped(requeued=0, failed=0)
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
    assert reap(lease=LEASE, max_attempts=3) == Reaped(requeued=0, failed=1)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3
    assert result.errors[0].exception_class_path == "hello_async.work.worker.WorkerLost"
    assert "worker dead stopped sending heartbeats" in result.errors[0].traceback
    assert "3 of 3 attempts" in result.errors[0].traceback
    assert not worker().run_one()  # FAILED is final


def test_raising_and_lost_workers_share_the_attempts() -> None:
    result = task_functions.run_out_of_charcoal.enqueue()
    assert worker().run_one()  # attempt 1 raises
    assert status(result.id) == TaskResultStatus.READY
    backoff_over(result.id)
    claimed_by_dead_worker(result.id)  # attempt 2 is lost with its worker
    assert reap(lease=LEASE, max_attempts=3) == Reaped(requeued=1, failed=0)
    assert worker().run_one()  # attempt 3 raises: the last
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.worker_ids == ["live", "dead", "live"]
    assert result.errors[0].exception_class_path == "tests.support.task_functions.NoCharcoal"
