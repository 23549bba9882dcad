"""What a run writes on its task's row: fenced on its own claim, and only what JSON can hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from hello_async.work.tasks import smoke_order
from hello_async.work.worker import results
from tests.support import task_functions
from tests.support.workers import CONFIG, run_after, status, worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_result_that_is_not_json_fails_the_task() -> None:
    result = task_functions.not_json.enqueue()
    worker().run(until_idle=True)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "builtins.TypeError"


def test_a_worker_that_lost_its_claim_does_not_requeue_the_new_run() -> None:
    result = task_functions.run_out_of_charcoal.enqueue()
    row = worker("slow").claim()
    assert row is not None
    DBTaskResult.objects.filter(id=result.id).update(status=TaskResultStatus.READY)
    assert worker("other").claim() is not None

    assert not results.retry_or_fail(
        row, row.started_at, ValueError("x"), config=CONFIG, worker_id="slow"
    )
    assert status(result.id) == TaskResultStatus.RUNNING
    assert run_after(result.id) > timezone.now() + timedelta(days=365)  # none set


def test_a_worker_that_lost_its_claim_does_not_overwrite_the_new_run() -> None:
    result = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")
    row = worker("slow").claim()
    assert row is not None
    # Presumed dead: reaped and claimed again by another worker before it finished.
    DBTaskResult.objects.filter(id=result.id).update(status=TaskResultStatus.READY)
    other = worker("other").claim()
    assert other is not None and other.started_at != row.started_at

    assert not results.finish(
        row, row.started_at, TaskResultStatus.FAILED, worker_id="slow", error=ValueError("x")
    )
    assert status(result.id) == TaskResultStatus.RUNNING
    assert DBTaskResult.objects.get(id=result.id).worker_ids == ["slow", "other"]
