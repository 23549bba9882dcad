"""Subscribers to server-sent events: bounded in number per feed, each with a bounded queue.

Each feed (``live``, ``console``, ``board``) has its own cap per process
(``HELLO_ASYNC_SSE_MAX_LIVE``, ``_CONSOLES``, ``_BOARDS``, each ``HELLO_ASYNC_SSE_MAX_SUBSCRIBERS``
unless set), so a crowd on one feed leaves the others open; past it the next is refused with
:class:`StreamsFull` (503 with ``Retry-After``). A subscriber's queue holds at most
``HELLO_ASYNC_SSE_QUEUE`` events: a consumer that lags that far behind is dropped, with a last
``dropped`` event, rather than buffered without end. Events may be published from any thread
(a sync view's lines come from its worker thread); they reach the queue on the subscriber's loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from prometheus_client import Counter, Gauge

from hello_async.errors import Busy

LINE_ENDS = re.compile(r"\r\n|\r|\n")

# The process's figures in prometheus-client's objects as well: with several processes (its
# multiprocess mode) /metrics adds every process's up (hello_async.ops.metrics).
STREAMS_OPEN = Gauge(
    "hello_async_sse_streams_open",
    "Event streams open (live view, consoles, boards).",
    multiprocess_mode="livesum",
    registry=None,
)
STREAMS_REFUSED = Counter(
    "hello_async_sse_refused",
    "Event streams refused with 503: their feed's cap was open.",
    registry=None,
)
STREAMS_DROPPED = Counter(
    "hello_async_sse_dropped",
    "Event streams ended because their client fell HELLO_ASYNC_SSE_QUEUE events behind.",
    registry=None,
)


class StreamsFull(Busy):
    """A feed's streams at their cap, or the process shutting down."""


@dataclass(frozen=True)
class Event:
    """One server-sent event: its name and its data (text as it is, anything else as JSON), and
    an id the client sends back as ``Last-Event-ID`` when it reconnects."""

    name: str
    data: Any
    id: str | None = None

    def encode(self) -> bytes:
        return self.encoded

    @functools.cached_property
    def encoded(self) -> bytes:
        """The event on the wire, made once however many subscribers it goes to. Every line
        end the format knows (CR, LF, CRLF) starts a new ``data:`` line, so text cannot end the
        event early or add a field."""
        if isinstance(self.data, str):
            text = self.data
        else:
            text = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        lines = "".join(f"data: {line}\n" for line in LINE_ENDS.split(text))
        ident = "" if self.id is None else f"id: {LINE_ENDS.sub('', self.id)}\n"
        return f"{ident}event: {self.name}\n{lines}\n".encode()


class Subscriber:
    def __init__(self, streams: Streams, limit: int, *, feed: str, endless: bool = False) -> None:
        self._streams = streams
        self.feed = feed
        self.endless = endless  # a feed with no end of its own (ended at shutdown)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.limit = limit
        self.dropped = False
        self.closed = False

    def publish(self, event: Event) -> None:
        """Queue ``event`` (thread-safe); past the limit, drop this subscriber instead."""
        if self.closed:
            return
        if threading.get_ident() == self._loop_thread:
            self._put(event)
        else:
            self._loop.call_soon_threadsafe(self._put, event)

    def end(self) -> None:
        """No more events: the stream ends once the queued ones are sent (thread-safe)."""
        if threading.get_ident() == self._loop_thread:
            self._put(None)
        else:
            self._loop.call_soon_threadsafe(self._put, None)

    def _put(self, event: Event | None) -> None:
        if self.closed or self.dropped:
            return
        queue = self._queue
        if event is not None and queue.qsize() >= self.limit:
            self.dropped = True
            self._streams.dropped_total += 1
            STREAMS_DROPPED.inc()
            while not queue.empty():  # what it has not read is not sent
                queue.get_nowait()
            queue.put_nowait(Event("dropped", {"reason": "too slow", "limit": self.limit}))
            queue.put_nowait(None)
            return
        queue.put_nowait(event)

    async def next(self, within: float | None) -> Event | None:
        """The next event; None at the end; TimeoutError when nothing came ``within`` seconds."""
        async with asyncio.timeout(within):
            return await self._queue.get()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._streams.release(self)


FEEDS = ("live", "console", "board")


class Streams:
    """The process's subscribers: their number bounded per feed."""

    def __init__(
        self, *, max_subscribers: int | dict[str, int] | None = None, queue: int | None = None
    ) -> None:
        self._max = max_subscribers
        self._queue = queue
        self._count: dict[str, int] = dict.fromkeys(FEEDS, 0)
        self._endless: set[Subscriber] = set()
        self._lock = threading.Lock()
        self.closing = False  # shutting down: no new endless stream
        self.refused_total = 0  # subscribers turned away at the bound (503)
        self.dropped_total = 0  # slow consumers dropped past their queue

    def max_subscribers(self, feed: str) -> int:
        if isinstance(self._max, int):
            return self._max
        if isinstance(self._max, dict):
            return self._max[feed]
        caps: dict[str, int] = settings.HELLO_ASYNC_SSE_MAX_PER_FEED
        return caps[feed]

    def subscribe(self, feed: str, *, endless: bool = False) -> Subscriber:
        """A new subscriber of ``feed``, or :class:`StreamsFull`. ``endless``: a feed that never
        ends by itself (a console, a board), which :meth:`end_endless` ends when the server shuts
        down."""
        limit = self._queue if self._queue is not None else settings.HELLO_ASYNC_SSE_QUEUE
        cap = self.max_subscribers(feed)
        with self._lock:
            if endless and self.closing:
                raise StreamsFull("The server is shutting down; try again shortly.")
            if self._count.get(feed, 0) >= cap:
                self.refused_total += 1
                STREAMS_REFUSED.inc()
                raise StreamsFull(f"Too many live streams open ({cap}); try again shortly.")
            self._count[feed] = self._count.get(feed, 0) + 1
            STREAMS_OPEN.inc()
        subscriber = Subscriber(self, limit, feed=feed, endless=endless)
        if endless:
            with self._lock:
                self._endless.add(subscriber)
        return subscriber

    def release(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._count[subscriber.feed] -= 1
            STREAMS_OPEN.dec()
            self._endless.discard(subscriber)

    def end_endless(self) -> int:
        """End every endless stream with a last ``closing`` event; returns how many.

        On shutdown the server waits for the requests in flight, and a feed never finishes by
        itself: ended, it lets the server stop at once (a browser's ``EventSource`` reconnects
        by itself, to the next server). Call it on a thread of its own or on the loop, not in a
        signal handler (the lock may be held by the code the signal interrupted)."""
        with self._lock:
            self.closing = True  # one opened after the signal would keep the server up too
            endless = list(self._endless)
        for subscriber in endless:
            subscriber.publish(Event("closing", {"reason": "the server is shutting down"}))
            subscriber.end()
        return len(endless)

    def open(self, feed: str) -> int:
        return self._count.get(feed, 0)

    def __len__(self) -> int:
        return sum(self._count.values())


_streams = Streams()


def get_streams() -> Streams:
    return _streams
