"""Smoke orders: the durable counterpart of /async/, as Django tasks on the database queue.

An order is a row in django-tasks-db's queue table; a task worker (hello_async.work.worker) runs it.
Orders are validated here, before anything is queued:

* ``meats``: a list of distinct smokables from ``kitchen.SMOKABLES``, or a count from 1 to
  ``len(SMOKABLES)`` meaning the first that many.
* ``flavor``: one of ``kitchen.FLAVORS``.

The queue is bounded: while ``HELLO_ASYNC_TASK_MAX_QUEUED`` tasks are READY, a new order is
refused with :class:`QueueFull` (503 with ``Retry-After``) before anything is written. The count
is the database's, so the bound holds across every process and host; it is one query on
django-tasks-db's partial index of READY rows, and stops counting at the bound, so it costs the
same however deep the queue. Count and insert are two statements, not one transaction: submitters
that count at the same moment may all pass, so the queue can exceed the bound by at most the
number of concurrent submitters (a lock would make it exact at the price of serialising every
order of every process on one row; an approximate bound is what a flood needs).

Enqueueing writes nothing else, so the order is queued at once. Where a request writes first
and then queues work about that write, queue it in ``transaction.on_commit`` instead, so a
worker never sees a task for a write that rolled back.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.tasks import TaskResult, TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from hello_async.article import kitchen
from hello_async.errors import BadRequest, Busy, NotFound
from hello_async.work.tasks import smoke_order

MAX_MEATS = len(kitchen.SMOKABLES)

SmokeOrder = TaskResult[Any, Any]


class QueueFull(Busy):
    """The queue holds ``HELLO_ASYNC_TASK_MAX_QUEUED`` orders: nothing queued, come back later."""

    retry_after = 30  # seconds: a worker takes a few per order, so the queue has moved by then


def smoke_order_validate(*, meats: object, flavor: object) -> tuple[list[str], str]:
    """The order's meats as a list and its flavor; BadRequest naming what is wrong."""
    if isinstance(meats, bool) or not isinstance(meats, int | list):
        raise BadRequest(f"meats must be a list of smokables or a count from 1 to {MAX_MEATS}")
    if isinstance(meats, int):
        if not 1 <= meats <= MAX_MEATS:
            raise BadRequest(f"meats must be a count from 1 to {MAX_MEATS}")
        meats = kitchen.SMOKABLES[:meats]
    unknown = [meat for meat in meats if meat not in kitchen.SMOKABLES]
    if not meats or unknown:
        raise BadRequest(f"meats must be some of: {', '.join(kitchen.SMOKABLES)}")
    if len(set(meats)) != len(meats):
        raise BadRequest("meats must not repeat")
    if flavor not in kitchen.FLAVORS:
        raise BadRequest(f"flavor must be one of: {', '.join(kitchen.FLAVORS)}")
    return list(meats), str(flavor)


async def smoke_order_aenqueue(*, meats: object, flavor: object) -> SmokeOrder:
    """The order, queued; BadRequest for bad input first, then QueueFull past the bound."""
    valid_meats, valid_flavor = smoke_order_validate(meats=meats, flavor=flavor)
    bound = int(settings.HELLO_ASYNC_TASK_MAX_QUEUED)
    if await smoke_order_acount_ready(limit=bound) >= bound:
        raise QueueFull("the order queue is full; try again later")
    return await smoke_order.aenqueue(meats=valid_meats, flavor=valid_flavor)


async def smoke_order_acount_ready(*, limit: int) -> int:
    """READY tasks in the queue, counted up to ``limit``: ``SELECT COUNT(*)`` over a ``LIMIT``
    subquery on the READY partial index (``tasks_db_new_ordering_idx``). Every READY task
    counts, whatever its kind: they wait for the same workers."""
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY).values("pk")
    return await ready[:limit].acount()


async def smoke_order_aget(*, id: str) -> SmokeOrder:
    try:
        return await smoke_order.aget_result(id)
    except (TaskResultDoesNotExist, TaskResultMismatch):
        raise NotFound(f"no smoke order {id}") from None


async def smoke_order_alist(*, limit: int) -> list[SmokeOrder]:
    """The newest orders first, in whatever state they are."""
    rows = DBTaskResult.objects.filter(task_path=smoke_order.module_path).order_by("-enqueued_at")
    return [row.task_result async for row in rows[:limit]]


def smoke_order_json(order: SmokeOrder) -> dict[str, Any]:
    """An order as the API and the board show it."""

    def when(moment: Any) -> str | None:
        return moment.isoformat() if moment else None

    error = None
    if order.status == TaskResultStatus.FAILED and order.errors:
        last = order.errors[-1]
        lines = last.traceback.strip().splitlines()
        error = {"exception": last.exception_class_path, "message": lines[-1] if lines else ""}
    return {
        "id": order.id,
        "status": order.status,
        "meats": order.kwargs.get("meats"),
        "flavor": order.kwargs.get("flavor"),
        "enqueued_at": when(order.enqueued_at),
        "started_at": when(order.started_at),
        "finished_at": when(order.finished_at),
        "attempts": order.attempts,
        "result": order.return_value if order.status == TaskResultStatus.SUCCESSFUL else None,
        "error": error,
        "status_url": reverse("smoke_orders:detail", kwargs={"id": order.id}),
    }


async def smoke_order_alist_json(*, limit: int) -> list[dict[str, Any]]:
    return [smoke_order_json(order) for order in await smoke_order_alist(limit=limit)]
