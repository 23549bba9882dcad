"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (its dependencies answer),
``/metrics`` (Prometheus). Plain text, GET/HEAD only, no parameters.

``/readyz`` checks the upstream and the database concurrently, each within
``HELLO_ASYNC_READY_TIMEOUT``, and answers 503 naming what failed. The failure's details go to
the log, not to the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from hello_async import metrics, upstream
from hello_async.params import text

logger = logging.getLogger(__name__)


@require_safe
async def healthz(request: HttpRequest) -> HttpResponse:
    return text("ok\n")


@require_safe
async def readyz(request: HttpRequest) -> HttpResponse:
    checks = await asyncio.gather(
        acheck("upstream", aping_upstream()), acheck("database", aping_database())
    )
    ready = all(ok for _, ok in checks)
    return text("".join(line for line, _ in checks), status=200 if ready else 503)


@require_safe
async def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)


async def acheck(name: str, ping: Awaitable[None]) -> tuple[str, bool]:
    started = time.monotonic()
    timeout = float(settings.HELLO_ASYNC_READY_TIMEOUT)
    try:
        async with asyncio.timeout(timeout):
            await ping
    except TimeoutError:
        logger.warning("readyz: %s gave no answer within %g s", name, timeout)
        return f"{name}: no answer within {timeout:g} s\n", False
    except Exception as exc:
        logger.warning("readyz: %s failed: %s", name, upstream.describe(exc))
        return f"{name}: failed ({type(exc).__name__})\n", False
    return f"{name}: ok ({(time.monotonic() - started) * 1000:.0f} ms)\n", True


async def aping_upstream() -> None:
    await upstream.aget("/")


def ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def aping_database() -> None:
    # Django has no async cursor: the query is sync. thread_sensitive=True runs it on the one
    # thread asgiref keeps for this request's sync work, whose connection Django closes when
    # the request finishes (request_finished runs there too); a fresh thread would leave a
    # connection open that nothing closes.
    await sync_to_async(ping_database, thread_sensitive=True)()


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
]
