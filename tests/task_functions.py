"""Tasks only the tests queue: importable by path, so subprocess workers can run them too."""

from __future__ import annotations

from typing import Any

from django.tasks import TaskContext, task
from django_tasks_db.models import DBTaskResult


class NoCharcoal(Exception):
    pass


@task
def run_out_of_charcoal() -> None:
    raise NoCharcoal("the smoker is out of charcoal")


@task(takes_context=True)
def own_status(context: TaskContext[Any, Any]) -> str:
    """The task's own status as the database shows it while the task runs."""
    return str(DBTaskResult.objects.get(id=context.task_result.id).status)


@task
def not_json() -> object:
    return object()
