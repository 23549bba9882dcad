"""Failed tasks that name the worker's exceptions by the path of ``hello_async/worker.py``.

Django imports a failed task's ``exception_class_path`` back (``TaskError.exception_class``), and
the worker's exceptions are now importable as ``hello_async.work.worker.<name>`` only. The
``traceback`` text is left as it was recorded.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

OLD_TO_NEW = {
    "hello_async.worker.WorkerLost": "hello_async.work.worker.WorkerLost",
    "hello_async.worker.TaskTimeLimitExceeded": "hello_async.work.worker.TaskTimeLimitExceeded",
}


def rewrite(apps: Any, schema_editor: Any, paths: dict[str, str]) -> None:
    db_task_result = apps.get_model("django_tasks_database", "DBTaskResult")
    rows = db_task_result.objects.using(schema_editor.connection.alias)
    for old, new in paths.items():
        rows.filter(exception_class_path=old).update(exception_class_path=new)


def forwards(apps: Any, schema_editor: Any) -> None:
    rewrite(apps, schema_editor, OLD_TO_NEW)


def backwards(apps: Any, schema_editor: Any) -> None:
    # Back to the paths hello_async/worker.py imports; rows recorded under the new paths are
    # rewritten too, as no column tells them apart.
    rewrite(apps, schema_editor, {new: old for old, new in OLD_TO_NEW.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("hello_async", "0002_smokeledger_taskworker"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=True)]
