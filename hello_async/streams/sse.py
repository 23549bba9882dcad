"""A subscriber's events as a ``text/event-stream`` response, sent as they come.

Django's ``StreamingHttpResponse`` over an async iterator: Django's ASGI handler sends each
chunk as it is produced (a sync iterator would be consumed whole first, under ASGI). The
response says ``X-Accel-Buffering: no`` and ``Cache-Control: no-cache`` so no proxy holds it
back. A comment opens the stream at once; another goes out after ``HELLO_ASYNC_SSE_HEARTBEAT``
seconds without an event, so idle streams stay open through proxies and a gone client is found.
A stream with no end of its own (a console, a board) ends after ``HELLO_ASYNC_SSE_MAX_AGE``
seconds with a ``retry:`` hint of 1 to 3 s (jittered): the browser's ``EventSource`` reconnects
by itself, perhaps to another process, so idle clients give their place back and a fleet's
streams spread again over its processes.

What a stream sets going (the work, a tap, a console session, a board watch) is started by
``on_start`` when the stream is first iterated, not in the view: a response that is built but
never sent (the client left while the middleware ran) has then started nothing, and a finalizer
gives its subscriber's place back. Once started, ``on_close`` undoes it when the stream ends or
the client leaves (Django cancels the iteration), on the loop, whichever thread closes the
response.
"""

from __future__ import annotations

import asyncio
import random
import threading
import weakref
from collections.abc import AsyncIterator, Callable

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from hello_async.errors import NeedsASGI
from hello_async.streams.subscribers import Subscriber

OPEN = b": stream open\n\n"
HEARTBEAT = b": heartbeat\n\n"
RETRY_MS = (1000, 3000)  # the reconnection delay a stream past its age asks for, jittered


def retry_hint() -> bytes:
    return f"retry: {random.randint(*RETRY_MS)}\n\n".encode()


Hook = Callable[[], None]


class _Stream:
    """The events as bytes. ``close()`` (the iteration's end, or Django closing the response)
    runs ``on_close`` once if the stream started, then releases the subscriber."""

    def __init__(
        self,
        subscriber: Subscriber,
        interval: float,
        on_start: Hook | None,
        on_close: Hook | None,
        max_age: float | None,
    ) -> None:
        self._subscriber = subscriber
        self._interval = interval
        self._max_age = max_age
        self._on_start = on_start
        self._on_close = on_close
        self._started = False
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        # Never iterated nor closed (the response dropped): the place still comes back.
        self._finalizer = weakref.finalize(self, subscriber.close)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if not self._finalizer.alive:  # closed before it was ever iterated
                return
            self._started = True
            if self._on_start is not None:
                self._on_start()
            yield OPEN
            loop = self._loop
            end = None if self._max_age is None else loop.time() + self._max_age
            while True:
                if end is not None and loop.time() >= end:
                    yield retry_hint()  # old enough: its place back, the client comes again
                    return
                wait = self._interval if end is None else min(self._interval, end - loop.time())
                try:
                    event = await self._subscriber.next(max(wait, 0))
                except TimeoutError:
                    if end is None or loop.time() < end:
                        yield HEARTBEAT
                    continue
                if event is None:
                    return
                yield event.encode()
        finally:
            self.close()

    def close(self) -> None:
        # Django's sync close, in a thread: run on the loop, where the hooks' state lives.
        if threading.get_ident() != self._loop_thread and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.close)
            return
        on_close, self._on_close = self._on_close, None
        try:
            if on_close is not None and self._started:
                on_close()
        finally:
            self._finalizer()  # the subscriber closed, once


CONTENT_TYPE = "text/event-stream; charset=utf-8"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def require_asgi(request: HttpRequest) -> None:
    """Streams only under ASGI: Django's WSGI handler reads an async stream whole before it
    sends a byte, so a feed that never ends would hold a worker for ever. 501 instead."""
    if isinstance(request, WSGIRequest):
        raise NeedsASGI("Event streams need an ASGI server: uvicorn hello_async.asgi:application.")


def sse_head() -> HttpResponse:
    """The answer to a HEAD of a stream: its headers, and no work started, no place taken."""
    return HttpResponse(content_type=CONTENT_TYPE, headers=HEADERS)


def sse_response(
    subscriber: Subscriber,
    *,
    on_start: Hook | None = None,
    on_close: Hook | None = None,
    heartbeat: float | None = None,
    max_age: float | None = None,
) -> StreamingHttpResponse:
    """``subscriber``'s events as a response; ``on_start`` when the stream is first iterated,
    ``on_close`` (only after ``on_start``) when it ends. An endless subscriber's stream ends
    after ``max_age`` seconds (``HELLO_ASYNC_SSE_MAX_AGE``). Call it on the serving loop."""
    interval = float(heartbeat if heartbeat is not None else settings.HELLO_ASYNC_SSE_HEARTBEAT)
    if max_age is None and subscriber.endless:
        max_age = float(settings.HELLO_ASYNC_SSE_MAX_AGE)
    stream = _Stream(subscriber, interval, on_start, on_close, max_age)
    return StreamingHttpResponse(stream, content_type=CONTENT_TYPE, headers=HEADERS)
