"""The article's work, as services: counting then calling the upstream, smoking and burning meats.

Each function logs the lines the article prints, in the article's order, at INFO. The article's
waits are the defaults; ``HELLO_ASYNC_TIME_SCALE`` multiplies all of them (0 removes them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from hello_async import upstream

logger = logging.getLogger(__name__)

TICKS = 5  # the article counts 1 to 5, one number a second
TICK_SECONDS = 1.0
SMOKABLES_SECONDS = 2.0
FLAVOR_SECONDS = 1.0
BURN_SECONDS = 5.0

SMOKABLES = ["ribs", "brisket", "lemon chicken", "salmon", "bison sirloin", "sausage"]
FLAVORS = ["Sweet Baby Ray's", "Stubb's Original", "Famous Dave's"]


def scaled(seconds: float) -> float:
    return seconds * float(settings.HELLO_ASYNC_TIME_SCALE)


async def await_scaled(seconds: float) -> None:
    """A non-blocking wait of ``scaled(seconds)``; none at all (not even a loop round) at 0."""
    wait = scaled(seconds)
    if wait > 0:
        await asyncio.sleep(wait)


# --- /async/, /sync/ and /sync_to_async/ ----------------------------------------------------------


async def ahttp_call() -> None:
    """Count 1..5 with non-blocking sleeps, then GET the upstream and log the response."""
    for num in range(1, TICKS + 1):
        await await_scaled(TICK_SECONDS)
        logger.info("%d", num)
    response = await upstream.aget("/")
    logger.info("%r", response)


def http_call(*, cancelled: threading.Event | None = None) -> None:
    """The same work, blocking: for sync views and for worker threads.

    A thread cannot be stopped from outside. Given ``cancelled``, the count waits on it instead
    of sleeping, and stops (quietly: whoever cancelled it counts the cut) as soon as it is set.
    """
    for num in range(1, TICKS + 1):
        if cancelled is None:
            time.sleep(scaled(TICK_SECONDS))
        elif cancelled.wait(scaled(TICK_SECONDS)):
            return
        logger.info("%d", num)
    response = upstream.get("/")
    logger.info("%r", response)


async def ahttp_call_in_thread(executor: ThreadPoolExecutor) -> None:
    """http_call() in a worker thread of ``executor``, as the article's /sync_to_async/ view does.

    thread_sensitive=False: http_call touches no thread-bound state (no ORM, no transaction),
    so it may run in a thread of its own rather than queue on the request's shared sync
    thread, where it would hold up every other thread-sensitive call for its 5 seconds. The
    thread comes from ``executor`` (bounded, the caller's) rather than the loop's default pool,
    which DNS lookups, ``asyncio.to_thread`` and the shutdown need. Cancelled (at shutdown),
    the thread's count stops at its next tick instead of running its 5 seconds out.
    """
    cancelled = threading.Event()
    try:
        await sync_to_async(http_call, thread_sensitive=False, executor=executor)(
            cancelled=cancelled
        )
    finally:
        cancelled.set()


# --- /smoke_some_meats/ --------------------------------------------------------------------------


@dataclass(frozen=True)
class SmokeResult:
    count: int
    flavor: str


async def aget_smokables() -> list[str]:
    logger.info("Getting smokeables...")
    await await_scaled(SMOKABLES_SECONDS)
    await upstream.aget("/")
    logger.info("Returning smokeable")
    return list(SMOKABLES)


async def aget_flavor() -> str:
    logger.info("Getting flavor...")
    await await_scaled(FLAVOR_SECONDS)
    await upstream.aget("/")
    logger.info("Returning flavor")
    return random.choice(FLAVORS)


def smoke(smokables: list[str], flavor: str) -> int:
    """Smokes some meats and applies the flavor; returns how many were smoked.

    The article prints three lines a meat. They happen in one step of the loop, so they go out as
    one record (the console prints each line with its prefix): one record, not eighteen.
    """
    if logger.isEnabledFor(logging.INFO):
        logger.info(smoking_lines(tuple(smokables), flavor))
    return len(smokables)


@functools.lru_cache(maxsize=64)
def smoking_lines(smokables: tuple[str, ...], flavor: str) -> str:
    """The smoking's lines, made once per order of meats and flavor."""
    lines: list[str] = []
    for smokable in smokables:
        lines += (
            f"Smoking some {smokable}...",
            f"Applying the {flavor}...",
            f"{smokable.capitalize()} smoked.",
        )
    return "\n".join(lines)


async def asmoke_some_meats() -> SmokeResult:
    """Get the smokables and a flavor concurrently (about 2 s, not 3), then smoke them.

    The article's ``asyncio.gather``, as a TaskGroup: when one branch fails (or the client goes
    away) the other is cancelled instead of running on unowned, and the first error surfaces.
    """
    try:
        async with asyncio.TaskGroup() as group:
            smokables = group.create_task(aget_smokables())
            flavor = group.create_task(aget_flavor())
    except ExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 (keeps its own __cause__)
    return SmokeResult(count=smoke(smokables.result(), flavor.result()), flavor=flavor.result())


# --- /burn_some_meats/ ---------------------------------------------------------------------------


def oversmoke() -> None:
    """If it's not dry, it must be uncooked. Blocks its thread for 5 s: the anti-pattern."""
    seconds = scaled(BURN_SECONDS)
    logger.info("Burning some meats for %g s (a blocking sleep)...", seconds)
    time.sleep(seconds)
    logger.info("Who doesn't love burnt meats?")
