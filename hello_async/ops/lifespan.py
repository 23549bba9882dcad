"""Startup and shutdown of a serving process (ASGI lifespan, through django-asgi-lifespan).

Django's own ASGIHandler rejects the lifespan scope; ``hello_async.asgi`` uses
django-asgi-lifespan's handler instead, which turns lifespan events into the ``asgi_startup`` and
``asgi_shutdown`` signals received here. At startup: Uvicorn's loggers are routed through the
project's log writer (hello_async.logs); the shutdown signal's time starts being noted
(hello_async.ops.shutdown; at the signal, the endless event streams end); the serving loop is
handed to the background-work owner; the upstream client is opened; the garbage collector is
tuned (hello_async.ops.gctuning) and, last, the loop monitor starts watching the loop. At
shutdown, in this order: the loop monitor stops, pending background work drains for what is left
of ``HELLO_ASYNC_SHUTDOWN_GRACE`` since the signal (it may still need the upstream), then the
clients close, then the local httpbin (if this process started one) stops, and the log writer
writes what is queued.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from django_asgi_lifespan.signals import asgi_shutdown, asgi_startup

from hello_async import upstream
from hello_async.jobs import background
from hello_async.logs import handlers as log_handlers
from hello_async.ops import gctuning, loopmonitor, shutdown
from hello_async.streams.subscribers import get_streams
from hello_async.upstream import local as local_upstream

logger = logging.getLogger(__name__)


async def astartup() -> None:
    # Uvicorn configured its loggers before it imported the app: theirs write through ours now.
    log_handlers.route_uvicorn()
    loop = asyncio.get_running_loop()
    get_streams().closing = False  # a process may serve again after a shutdown (tests do)
    # At the signal, the event streams with no end of their own (consoles, boards) end, so the
    # server need not wait for them; on the loop, since a signal handler must not take locks.
    shutdown.install(on_signal=lambda: loop.call_soon_threadsafe(get_streams().end_endless))
    background.get_owner().start()
    await upstream.get_upstream().astart()
    # The collector's one full pass at tuning holds the loop: done before the monitor
    # watches, so a start reports no stall that no request ever met.
    gctuning.tune(
        freeze=settings.HELLO_ASYNC_GC_FREEZE, thresholds=settings.HELLO_ASYNC_GC_THRESHOLDS
    )
    await loopmonitor.astart(settings.HELLO_ASYNC_LOOP_STALL_MS / 1000)
    # The loop's class says how the server accepts (hello_async.fastpath.accept).
    logger.info(
        "hello_async ready: upstream %s (event loop %s)",
        upstream.get_upstream().base_url,
        type(loop).__name__,
    )


async def ashutdown() -> None:
    await loopmonitor.astop()
    # Uvicorn has spent part of the grace on the requests in flight: one budget for both.
    await background.get_owner().adrain(shutdown.remaining(settings.HELLO_ASYNC_SHUTDOWN_GRACE))
    client = upstream.get_upstream()
    await client.aclose()
    # Threads of their own, not asyncio.to_thread: the default pool may be full (DNS, someone
    # else's to_thread), and the shutdown must not queue behind it.
    await background.ain_own_thread(client.close)
    await background.ain_own_thread(local_upstream.stop_started)
    shutdown.uninstall()
    log_handlers.finish()  # what is queued, and what comes after, reaches the console


async def _on_startup(**kwargs: Any) -> None:
    await astartup()


async def _on_shutdown(**kwargs: Any) -> None:
    await ashutdown()


def connect() -> None:
    asgi_startup.connect(_on_startup, dispatch_uid="hello_async.startup")
    asgi_shutdown.connect(_on_shutdown, dispatch_uid="hello_async.ops.shutdown")
