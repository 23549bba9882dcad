"""Pruning finished tasks: the batches, the workers' hourly pass, ``manage.py prune_tasks``."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from hello_async.models import SmokeLedger
from hello_async.work.retention import finished_tasks_prune, finished_tasks_prune_batches
from hello_async.work.worker import Worker, WorkerConfig
from hello_async.work.worker.pruning import PRUNE_EVERY
from tests.support import task_functions

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 86_400.0


def task_in(status: str, *, finished_days_ago: float | None = None) -> str:
    """A task row in ``status``, finished that many days ago (or not finished)."""
    result = task_functions.own_status.enqueue()
    finished_at = None
    if finished_days_ago is not None:
        finished_at = timezone.now() - timedelta(days=finished_days_ago)
    DBTaskResult.objects.filter(id=result.id).update(status=status, finished_at=finished_at)
    return result.id


def remaining() -> set[str]:
    return {str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)}


@pytest.fixture
def mixed() -> dict[str, str]:
    """Old and recent finished tasks, and unfinished ones that look old."""
    rows = {
        "old successful": task_in(TaskResultStatus.SUCCESSFUL, finished_days_ago=10),
        "old failed": task_in(TaskResultStatus.FAILED, finished_days_ago=8),
        "recent successful": task_in(TaskResultStatus.SUCCESSFUL, finished_days_ago=1),
        "recent failed": task_in(TaskResultStatus.FAILED, finished_days_ago=6),
        "ready": task_in(TaskResultStatus.READY),
        "running": task_in(TaskResultStatus.RUNNING),
        # Not a state the worker leaves, but pruning goes by status, not by finished_at alone.
        "running, finished_at set": task_in(TaskResultStatus.RUNNING, finished_days_ago=30),
    }
    # The effect of the old order: pruning its queue row must keep it.
    SmokeLedger.objects.create(
        idempotency_key=rows["old successful"],
        meats=["ribs"],
        flavor="Famous Dave's",
        attempt=1,
        worker_id="w",
    )
    return rows


def kept(rows: dict[str, str]) -> set[str]:
    return {rows[name] for name in rows if not name.startswith("old")}


def test_prune_deletes_old_finished_tasks_only_and_keeps_the_ledger(
    mixed: dict[str, str],
) -> None:
    assert finished_tasks_prune(older_than=7 * DAY) == 2
    assert remaining() == kept(mixed)
    assert SmokeLedger.objects.filter(idempotency_key=mixed["old successful"]).exists()
    assert finished_tasks_prune(older_than=7 * DAY) == 0


def test_prune_deletes_in_batches_of_the_given_size() -> None:
    for days in range(5):
        task_in(TaskResultStatus.SUCCESSFUL, finished_days_ago=10 + days)
    assert list(finished_tasks_prune_batches(older_than=DAY, batch_size=2)) == [2, 2, 1]
    assert remaining() == set()


def test_prune_older_than_any_date_deletes_nothing(mixed: dict[str, str]) -> None:
    assert finished_tasks_prune(older_than=1e15) == 0
    assert remaining() == set(mixed.values())


def worker(*, retention: float, lease: float = 5.0) -> Worker:
    config = WorkerConfig(
        lease=lease, max_attempts=3, poll_interval=0.01, shutdown_grace=1, retention=retention
    )
    return Worker(config, worker_id="pruner")


def test_a_worker_prunes_at_once_then_at_most_once_an_hour(mixed: dict[str, str]) -> None:
    pruner = worker(retention=7 * DAY)
    assert pruner.prune() == 2
    assert remaining() == kept(mixed)

    later = task_in(TaskResultStatus.SUCCESSFUL, finished_days_ago=9)
    assert pruner.prune() == 0  # the last pass was just now
    assert later in remaining()
    assert pruner.prune(now=time.monotonic() + PRUNE_EVERY) == 1
    assert later not in remaining()


def test_a_workers_pass_over_a_backlog_continues_on_the_next_beats() -> None:
    for days in range(5):
        task_in(TaskResultStatus.FAILED, finished_days_ago=10 + days)
    pruner = worker(retention=DAY, lease=1e-6)  # its slice of a beat: one batch
    assert [pruner.prune(batch_size=2) for _ in range(4)] == [2, 2, 1, 0]
    assert remaining() == set()
    task_in(TaskResultStatus.FAILED, finished_days_ago=10)
    assert pruner.prune(batch_size=2) == 0  # that pass is over: the next in an hour


def test_a_worker_with_no_retention_keeps_everything(mixed: dict[str, str]) -> None:
    assert worker(retention=0).prune() == 0
    assert remaining() == set(mixed.values())


def test_the_heartbeat_thread_prunes_as_the_worker_starts() -> None:
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite's in-memory test database locks whole tables across threads regardless of"
            " the busy timeout; Worker.prune is tested in this thread above"
        )
    old = task_in(TaskResultStatus.SUCCESSFUL, finished_days_ago=10)
    pruner = worker(retention=DAY)
    deadline = time.monotonic() + 20
    with pruner.heartbeat():
        while old in remaining():
            assert time.monotonic() < deadline, "the heartbeat thread did not prune"
            time.sleep(0.05)


def prune_tasks(*args: str, **options: object) -> str:
    out = StringIO()
    call_command("prune_tasks", *args, stdout=out, **options)
    return out.getvalue()


def test_prune_tasks_command_uses_the_retention_setting(
    mixed: dict[str, str], settings: pytest.FixtureRequest
) -> None:
    settings.HELLO_ASYNC_TASK_RETENTION = 7 * DAY  # type: ignore[attr-defined]
    assert prune_tasks() == "Deleted 2 finished tasks older than 604800 s.\n"
    assert remaining() == kept(mixed)


def test_prune_tasks_command_older_than_overrides_the_setting(
    mixed: dict[str, str], settings: pytest.FixtureRequest
) -> None:
    settings.HELLO_ASYNC_TASK_RETENTION = 0  # type: ignore[attr-defined]
    assert prune_tasks("--older-than", str(5 * DAY)) == (
        "Deleted 3 finished tasks older than 432000 s.\n"
    )
    assert remaining() == kept(mixed) - {mixed["recent failed"]}


def test_prune_tasks_command_dry_run_deletes_nothing(mixed: dict[str, str]) -> None:
    output = prune_tasks("--older-than", "0", "--dry-run")
    assert output == "Would delete 4 finished tasks older than 0 s.\n"
    assert remaining() == set(mixed.values())


def test_prune_tasks_command_with_no_retention_deletes_nothing(
    mixed: dict[str, str], settings: pytest.FixtureRequest
) -> None:
    settings.HELLO_ASYNC_TASK_RETENTION = 0  # type: ignore[attr-defined]
    assert "kept for ever; nothing deleted" in prune_tasks()
    assert remaining() == set(mixed.values())


def test_prune_tasks_command_rejects_a_negative_age() -> None:
    with pytest.raises(CommandError, match="--older-than must be 0 or more seconds"):
        prune_tasks(older_than=-1.0)
