"""A subscriber's events as a ``text/event-stream`` response, sent as they come.

Django's ``StreamingHttpResponse`` over an async iterator: Django's ASGI handler sends each
chunk as it is produced (a sync iterator would be consumed whole first, under ASGI). The
response says ``X-Accel-Buffering: no`` and ``Cache-Control: no-cache`` so no proxy holds it
back. A comment opens the stream at once; another goes out after ``HELLO_ASYNC_SSE_HEARTBEAT``
seconds without an event, so idle streams stay open through proxies and a gone client is found.
When the client leaves, Django cancels the response's iteration: ``on_close`` then runs (the
producer is cancelled) and the subscriber is released.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse

from hello_async.live.broker import Subscriber

OPEN = b": stream open\n\n"
HEARTBEAT = b": heartbeat\n\n"


class _Stream:
    """The events as bytes; ``close()`` (Django calls it when the response is closed) releases
    the subscriber even if the stream was never iterated."""

    def __init__(
        self, subscriber: Subscriber, interval: float, on_close: Callable[[], None] | None
    ) -> None:
        self._subscriber = subscriber
        self._interval = interval
        self._on_close = on_close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            yield OPEN
            while True:
                try:
                    event = await self._subscriber.next(self._interval)
                except TimeoutError:
                    yield HEARTBEAT
                    continue
                if event is None:
                    return
                yield event.encode()
        finally:
            self.close()

    def close(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()
        self._subscriber.close()


CONTENT_TYPE = "text/event-stream; charset=utf-8"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_head() -> HttpResponse:
    """The answer to a HEAD of a stream: its headers, and no work started, no place taken."""
    return HttpResponse(content_type=CONTENT_TYPE, headers=HEADERS)


def sse_response(
    subscriber: Subscriber,
    *,
    on_close: Callable[[], None] | None = None,
    heartbeat: float | None = None,
) -> StreamingHttpResponse:
    interval = float(heartbeat if heartbeat is not None else settings.HELLO_ASYNC_SSE_HEARTBEAT)
    stream = _Stream(subscriber, interval, on_close)
    return StreamingHttpResponse(stream, content_type=CONTENT_TYPE, headers=HEADERS)
