from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tasks_db.models import DBTaskResult

from hello_async.work.tasks import smoke_order
from tests.support import task_functions

BEFORE = ("hello_async", "0004_tasks_ready_notify")
AFTER = ("hello_async", "0005_work_tasks_path")
OLD = "hello_async.tasks.smoke_order"


def migrate(target: tuple[str, str]) -> None:
    MigrationExecutor(connection).migrate([target])


def queued_as(path: str) -> str:
    result = smoke_order.enqueue(["brisket"], "Stubb's")
    DBTaskResult.objects.filter(id=result.id).update(task_path=path)
    return result.id


def task_path(task_id: str) -> str:
    return DBTaskResult.objects.get(id=task_id).task_path


@pytest.fixture
def at_0004(transactional_db: None) -> Iterator[None]:
    """The database as it was before migration 0005; migrated to the latest again afterwards."""
    migrate(BEFORE)
    try:
        yield
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_smoke_order_is_stored_under_its_work_path() -> None:
    assert smoke_order.module_path == "hello_async.work.tasks.smoke_order"


def test_migration_0005_points_queued_orders_at_the_moved_task_and_back(at_0004: None) -> None:
    queued = queued_as(OLD)
    other = task_functions.run_out_of_charcoal.enqueue().id
    other_path = task_path(other)

    migrate(AFTER)
    assert DBTaskResult.objects.get(id=queued).task.func is smoke_order.func
    assert task_path(other) == other_path

    migrate(BEFORE)
    assert task_path(queued) == OLD
    assert task_path(other) == other_path
