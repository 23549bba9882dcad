"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (its dependencies answer),
``/metrics`` (Prometheus). Plain text, GET/HEAD only, no parameters.

``/readyz`` checks the upstream and the database concurrently, each within
``HELLO_ASYNC_READY_TIMEOUT``, and answers 503 naming what failed. The failure's details go to
the log, not to the client. The upstream is asked at most once per
``HELLO_ASYNC_READY_CACHE_SECONDS`` however often the probe comes (:class:`SharedCheck`): the
upstream is someone else's service, and every worker of every replica is probed. The database
is this deployment's own, so it is asked afresh, but once at a time (:class:`DatabaseCheck`):
probes that come while its ``SELECT 1`` runs await that one, so a burst of probes costs one
thread and one connection, not one each, and a database that hangs holds one thread, however
many probes come.

``/metrics`` is behind a token in production (hello_async.web.access).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from hello_async import upstream
from hello_async.ops import metrics
from hello_async.streams.broker import get_broker
from hello_async.web import access, responses
from hello_async.web.lean import lean_middleware

logger = logging.getLogger(__name__)


@lean_middleware
@require_safe
async def healthz(request: HttpRequest) -> HttpResponse:
    return responses.text("ok\n")


@lean_middleware
@require_safe
async def readyz(request: HttpRequest) -> HttpResponse:
    checks = await asyncio.gather(get_upstream_check().acheck(), get_database_check().acheck())
    ready = all(ok for _, ok in checks)
    # The broker is degraded at worst, never failed: only live feeds across processes need it.
    broker = (get_broker().status() or ("", True))[0]
    return responses.text(
        "".join(line for line, _ in checks) + broker, status=200 if ready else 503
    )


@lean_middleware
@access.metrics_guard
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


Result = tuple[str, bool]


class SharedCheck:
    """The upstream's check, shared: a result is reused for ``HELLO_ASYNC_READY_CACHE_SECONDS``
    after it came in, and a probe that comes while a check is in flight awaits that one.

    A result answers for the upstream client it was asked of: once another is the process's,
    the next probe asks again. A check in flight is shared with probes on its own event loop
    only (under Uvicorn, all of them); a probe on another loop (WSGI, ``runserver``: a loop per
    request) starts its own, but still reuses a fresh result.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._result: Result | None = None
        self._came_in = 0.0
        self._asked_of: object = None
        self._in_flight: asyncio.Task[Result] | None = None

    async def acheck(self) -> Result:
        window = float(settings.HELLO_ASYNC_READY_CACHE_SECONDS)
        if window <= 0:
            return await acheck("upstream", aping_upstream())
        client = upstream.get_upstream()
        if (
            self._result is not None
            and self._asked_of is client
            and self._clock() - self._came_in < window
        ):
            return self._result
        loop = asyncio.get_running_loop()
        task = self._in_flight
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._arefresh(client), name="readyz upstream check")
            self._in_flight = task
        # Shielded: a probe whose client goes away must not cancel the check the others await.
        return await asyncio.shield(task)

    async def _arefresh(self, client: object) -> Result:
        result = await acheck("upstream", aping_upstream())
        self._result, self._came_in, self._asked_of = result, self._clock(), client
        return result


_upstream_check = SharedCheck()


def get_upstream_check() -> SharedCheck:
    return _upstream_check


def ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


class DatabaseCheck:
    """The database's check, single-flight: at most one ``SELECT 1`` runs at a time in the
    process, on a thread of its own, and every probe that comes meanwhile awaits that one.

    Django has no async cursor, so the query is sync. It used to run on each probe's
    thread-sensitive thread (``sync_to_async``): a thread and a connection per probe in flight.
    Here one daemon thread runs one check and ends; the connection it opened is closed (given
    back to the pool on PostgreSQL) before it does, as nothing else would close it. Each probe
    waits under its own deadline; one that gives up leaves the check running for the others,
    and a check that outlives every deadline (a hung database) stays the one in flight: the next
    probes await it too instead of starting threads behind it. The running check is a
    ``concurrent.futures.Future``, so probes on any loop share it (under WSGI, a loop per
    request); two such loops may each start one at the same moment, which is harmless.
    """

    def __init__(self) -> None:
        self._running: concurrent.futures.Future[None] | None = None

    async def acheck(self) -> Result:
        return await acheck("database", self._ajoin())

    async def _ajoin(self) -> None:
        job = self._running
        if job is None or job.done():
            job = concurrent.futures.Future()
            job.set_running_or_notify_cancel()  # a probe's cancellation cannot cancel it
            self._running = job
            threading.Thread(
                target=_run_database_check, args=(job,), name="readyz-database", daemon=True
            ).start()
        await asyncio.wrap_future(job)


def _run_database_check(job: concurrent.futures.Future[None]) -> None:
    try:
        try:
            ping_database()
        finally:
            connection.close()  # this thread's own: nothing else would close it
    except BaseException as exc:  # whatever it is, the job ends: probes await it
        job.set_exception(exc)
    else:
        job.set_result(None)


_database_check = DatabaseCheck()


def get_database_check() -> DatabaseCheck:
    return _database_check


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
]
