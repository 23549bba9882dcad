"""Tasks only the tests queue: importable by path, so subprocess workers can run them too."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from django.tasks import TaskContext, task
from django_tasks_db.models import DBTaskResult

# In process: the ids of the async sleepers cancelled at their await (stopped, not abandoned).
CANCELLED: list[str] = []


class NoCharcoal(Exception):
    pass


@task
def run_out_of_charcoal() -> None:
    raise NoCharcoal("the smoker is out of charcoal")


@task(takes_context=True)
def light_on_third_try(context: TaskContext[Any, Any]) -> int:
    """Raises on its first two attempts; returns the attempt that succeeded."""
    if context.attempt < 3:
        raise NoCharcoal(f"attempt {context.attempt}: the charcoal is still damp")
    return context.attempt


@task(takes_context=True)
def own_status(context: TaskContext[Any, Any]) -> str:
    """The task's own status as the database shows it while the task runs."""
    return str(DBTaskResult.objects.get(id=context.task_result.id).status)


@task
def not_json() -> object:
    return object()


@task
def sleep_sync(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


@task(takes_context=True)
async def sleep_async(context: TaskContext[Any, Any], seconds: float) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        CANCELLED.append(context.task_result.id)
        raise
    return "woke up"


@task
def sleep_sync_through_anything(seconds: float) -> str:
    """Catches whatever stops it (TaskTimeLimitExceeded too) and returns all the same."""
    try:
        time.sleep(seconds)
    except BaseException:
        return "caught it"
    return "woke up"


@task
async def sleep_async_through_cancel(seconds: float) -> str:
    """Swallows its cancellation and returns all the same."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        return "caught it"
    return "woke up"


@task
def stop_the_worker_then_sleep(seconds: float) -> str:
    """SIGTERM to its own process (the in-process worker's) then a long sleep."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(seconds)
    return "woke up"
