"""Django tasks: the work that must not be lost, run by a task worker (hello_async.work.worker).

A task may run more than once: a task that raises is retried, and a worker that dies mid-task
gives it back to the queue (at least once). So a task's effect is written with the task's id as
an idempotency key; a second run finds the row the first one wrote and records nothing new.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.tasks import TaskContext, task

from hello_async.article import kitchen
from hello_async.models import SmokeLedger

logger = logging.getLogger(__name__)

# Per meat: the smoker's wait, scaled by HELLO_ASYNC_TIME_SCALE like the article's waits.
SMOKE_SECONDS_PER_MEAT = 1.0


@task(takes_context=True)
async def smoke_order(
    context: TaskContext[Any, Any], meats: list[str], flavor: str
) -> dict[str, Any]:
    """Smoke the ordered meats with the flavor (the article's lines), then record it once."""
    result = context.task_result
    logger.info("Smoke order %s: attempt %d", result.id, context.attempt)
    await asyncio.sleep(kitchen.scaled(SMOKE_SECONDS_PER_MEAT * len(meats)))
    smoked = kitchen.smoke(meats, flavor)
    entry, created = await SmokeLedger.objects.aget_or_create(
        idempotency_key=result.id,
        defaults={
            "meats": meats,
            "flavor": flavor,
            "attempt": context.attempt,
            "worker_id": result.worker_ids[-1] if result.worker_ids else "",
        },
    )
    if not created:
        logger.info("Smoke order %s was recorded by attempt %d already", result.id, entry.attempt)
    return {"smoked": smoked, "flavor": flavor, "meats": meats, "ledger_id": entry.pk}
