"""A task's function run within ``HELLO_ASYNC_TASK_TIME_LIMIT``; past it, TaskTimeLimitExceeded.

A sync function is interrupted where it is: SIGALRM raises TaskTimeLimitExceeded in it (see
hello_async.work.worker.interrupts). An async function runs in an event loop thread of its own
(``async_to_sync``) while the worker's thread waits, running the coroutine's thread-sensitive
``sync_to_async`` calls. An exception raised in the waiting thread would only stop the waiting
and leave the coroutine running on, unseen, so its limit is a timeout in its own loop: it is
cancelled at the ``await`` it is in, once the sync call it may be waiting for has returned.

A task that catches its stop and runs on to the end is FAILED all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync

from hello_async.work.worker.errors import TaskTimeLimitExceeded, time_limit_message
from hello_async.work.worker.interrupts import Interrupts

if TYPE_CHECKING:
    from django.tasks import Task


def call_within_limit(
    task: Task[Any, Any],
    args: list[object],
    kwargs: dict[str, Any],
    *,
    limit: float,
    interrupts: Interrupts,
) -> Any:
    """Run the task's function in this thread (as ``task.call`` does), within ``limit`` seconds."""
    if iscoroutinefunction(task.func):
        interrupts.start_limit(0)  # the grace's alarm only: the limit is the loop's
        return async_to_sync(_acall_within)(limit, task.func, args, kwargs)
    interrupts.start_limit(limit)
    try:
        value = task.func(*args, **kwargs)
    except Exception as exc:
        if interrupts.over_limit:  # it caught TaskTimeLimitExceeded, then failed otherwise
            raise TaskTimeLimitExceeded(time_limit_message(limit)) from exc
        raise
    if interrupts.over_limit:  # it caught TaskTimeLimitExceeded and ran on to the end
        raise TaskTimeLimitExceeded(time_limit_message(limit))
    return value


async def _acall_within(
    limit: float,
    func: Callable[..., Awaitable[Any]],
    args: list[object],
    kwargs: dict[str, Any],
) -> Any:
    """Await ``func``, cancelled after ``limit`` seconds (0: no limit); in its loop's thread."""
    if limit <= 0:
        return await func(*args, **kwargs)
    within = asyncio.timeout(limit)
    try:
        async with within:
            value = await func(*args, **kwargs)
    except Exception as exc:  # the timeout's TimeoutError, or what the cancelled task raised
        if within.expired():
            raise TaskTimeLimitExceeded(time_limit_message(limit)) from exc
        raise
    if within.expired():  # it caught the cancellation and ran on to the end
        raise TaskTimeLimitExceeded(time_limit_message(limit))
    return value
