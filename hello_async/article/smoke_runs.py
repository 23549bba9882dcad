"""Smoke runs: the async ORM shown right, plus the one sync ORM call it has to bridge.

Async ORM where Django has it (``acreate``, ``async for``): no thread hop. Django has no async
transaction API, so the one multi-statement write that must be atomic runs as sync code through
``sync_to_async`` (see :func:`smoke_runs_aprune`).
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.db import transaction

from hello_async.article import kitchen
from hello_async.models import SmokeRun

KEEP = 1000  # runs kept; older ones are pruned after each new run


async def smoke_run_aperform() -> SmokeRun:
    """Smoke some meats (the article's fan-out), record the run, prune old runs."""
    started = time.monotonic()
    result = await kitchen.asmoke_some_meats()
    run = await SmokeRun.objects.acreate(
        flavor=result.flavor, meats=result.count, duration=time.monotonic() - started
    )
    await smoke_runs_aprune(keep=KEEP)
    return run


async def smoke_run_alist(*, limit: int) -> list[SmokeRun]:
    return [run async for run in SmokeRun.objects.order_by("-created_at", "-id")[:limit]]


def smoke_runs_prune(*, keep: int) -> int:
    """Delete all but the newest ``keep`` runs, atomically; returns how many were deleted."""
    with transaction.atomic():
        newest = SmokeRun.objects.order_by("-created_at", "-id").values_list("id", flat=True)
        cutoff = list(newest[keep : keep + 1])
        if not cutoff:
            return 0
        deleted, _ = SmokeRun.objects.filter(id__lte=cutoff[0]).delete()
        return deleted


async def smoke_runs_aprune(*, keep: int) -> int:
    # thread_sensitive=True: transaction.atomic() binds to the calling thread's database
    # connection, and Django's sync ORM expects to run on the one thread that asgiref keeps for
    # this request's sync work; a fresh thread (thread_sensitive=False) would open a connection
    # of its own that nothing closes at the end of the request.
    return await sync_to_async(smoke_runs_prune, thread_sensitive=True)(keep=keep)
