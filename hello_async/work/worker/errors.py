"""Why the worker stops or fails a task on its own account.

    BaseException
    ├── Exception
    │   └── WorkerLost              recorded: FAILED, its workers kept dying under it
    ├── TaskTimeLimitExceeded       recorded: FAILED, it ran past HELLO_ASYNC_TASK_TIME_LIMIT
    └── _GiveBack                   not recorded: the task goes back to READY (a stop's grace over)

A recorded class is stored by its dotted path in ``DBTaskResult.exception_class_path``, which
Django imports back (``TaskError.exception_class``). That path is the package's public one,
``hello_async.work.worker.<name>``, not this module's, so moving the classes inside the package
never strands a stored row. Paths that older layouts stored are rewritten by a data migration.
"""

from __future__ import annotations

PUBLIC_MODULE = "hello_async.work.worker"


class WorkerLost(Exception):
    """The reason recorded on a task FAILED because its workers kept dying under it."""

    __module__ = PUBLIC_MODULE


LOST = f"{PUBLIC_MODULE}.WorkerLost"


class TaskTimeLimitExceeded(BaseException):
    """The reason recorded on a task FAILED because it ran past ``HELLO_ASYNC_TASK_TIME_LIMIT``.

    A BaseException, as KeyboardInterrupt is, so the task's own ``except Exception`` does not
    swallow it and run on.
    """

    __module__ = PUBLIC_MODULE


def time_limit_message(limit: float) -> str:
    return f"the task ran past its time limit of {limit:g} s (HELLO_ASYNC_TASK_TIME_LIMIT)"


class _GiveBack(BaseException):
    """Raised in the main thread to abandon the current task (grace over, or a second signal)."""
