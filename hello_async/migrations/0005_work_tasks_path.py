"""Stored tasks that name ``smoke_order`` by the path of ``hello_async/tasks.py``.

django-tasks-db imports a queued or finished task back by its ``task_path``
(``DBTaskResult.task``), and the task is now importable as ``hello_async.work.tasks.smoke_order``
only: without this, a worker would fail every order queued before the move.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

OLD_TO_NEW = {
    "hello_async.tasks.smoke_order": "hello_async.work.tasks.smoke_order",
}


def rewrite(apps: Any, schema_editor: Any, paths: dict[str, str]) -> None:
    db_task_result = apps.get_model("django_tasks_database", "DBTaskResult")
    rows = db_task_result.objects.using(schema_editor.connection.alias)
    for old, new in paths.items():
        rows.filter(task_path=old).update(task_path=new)


def forwards(apps: Any, schema_editor: Any) -> None:
    rewrite(apps, schema_editor, OLD_TO_NEW)


def backwards(apps: Any, schema_editor: Any) -> None:
    # Back to the path hello_async/tasks.py had; rows queued under the new path are rewritten
    # too, as no column tells them apart.
    rewrite(apps, schema_editor, {new: old for old, new in OLD_TO_NEW.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("hello_async", "0004_tasks_ready_notify"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=True)]
