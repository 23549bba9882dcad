"""The paths the worker records for its own exceptions import back, older layouts' rows included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.tasks import TaskResultStatus
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from hello_async.work.worker import LOST, TaskTimeLimitExceeded, WorkerLost
from tests.support import task_functions

BEFORE = ("hello_async", "0002_smokeledger_taskworker")
AFTER = ("hello_async", "0003_worker_exception_paths")


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target])


def failed_with(path: str) -> str:
    result = task_functions.run_out_of_charcoal.enqueue()
    DBTaskResult.objects.filter(id=result.id).update(
        status=TaskResultStatus.FAILED, exception_class_path=path, traceback=f"{path}: why\n"
    )
    return result.id


def exception_class_path(task_id: str) -> str:
    return DBTaskResult.objects.get(id=task_id).exception_class_path


@pytest.fixture
def at_0002(transactional_db: None) -> Iterator[None]:
    """The database as it was before migration 0003; migrated to the latest again afterwards."""
    migrate(BEFORE)
    try:
        yield
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.parametrize("error", [WorkerLost, TaskTimeLimitExceeded])
def test_the_path_the_worker_records_imports_the_class(error: type[BaseException]) -> None:
    recorded = f"{error.__module__}.{error.__qualname__}"
    assert recorded.startswith("hello_async.work.worker.")
    assert import_string(recorded) is error


def test_lost_is_the_path_the_reaper_records() -> None:
    assert import_string(LOST) is WorkerLost


def test_migration_0003_points_old_rows_at_importable_classes_and_back(at_0002: None) -> None:
    lost = failed_with("hello_async.worker.WorkerLost")
    limited = failed_with("hello_async.worker.TaskTimeLimitExceeded")
    other = failed_with("tests.support.task_functions.NoCharcoal")

    migrate(AFTER)
    assert DBTaskResult.objects.get(id=lost).task_result.errors[0].exception_class is WorkerLost
    assert (
        DBTaskResult.objects.get(id=limited).task_result.errors[0].exception_class
        is TaskTimeLimitExceeded
    )
    assert exception_class_path(other) == "tests.support.task_functions.NoCharcoal"
    assert DBTaskResult.objects.get(id=lost).traceback == "hello_async.worker.WorkerLost: why\n"

    migrate(BEFORE)
    assert exception_class_path(lost) == "hello_async.worker.WorkerLost"
    assert exception_class_path(limited) == "hello_async.worker.TaskTimeLimitExceeded"
    assert exception_class_path(other) == "tests.support.task_functions.NoCharcoal"
