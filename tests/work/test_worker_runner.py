"""One worker in process: a task's status while it runs, retries with backoff, the last failure."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from hello_async.work.worker import WorkerConfig
from tests.support import task_functions
from tests.support.workers import BACKOFF, backoff_over, run_after, status, worker

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_no_task_ready_means_run_one_is_false() -> None:
    assert not worker().run_one()


def test_a_task_claimed_as_the_stop_signal_arrives_is_given_back_unrun() -> None:
    result = task_functions.own_status.enqueue()
    stopping = worker()
    stopping.stopping = True
    assert stopping.run_one()
    result.refresh()
    assert result.status == TaskResultStatus.READY
    assert stopping.tasks_run == 0
