"""One HTTP/1.1 connection of hello_async.upstream.transport: a request out, its answer parsed.

An ``asyncio.Protocol`` that writes a request and parses the answer with httptools (the parser
Uvicorn uses), applying the upstream's limits (hello_async.upstream.limits): every read counted
before httptools sees it (hello_async.upstream.wire: the heads with their interim answers, a
chunked body's pieces, its trailers); the body's size and pieces as it is parsed; the status,
the version and the one content coding, once the head is in. Trailers are counted and dropped,
as HTTPX's own transport drops them. A read timeout fires only while a caller waits for a byte.
Errors are HTTPX's, raised ``from`` the socket's when there is one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import cast

import httptools
import httpx

from hello_async.upstream.limits import ResponseLimits, ResponseRefused
from hello_async.upstream.wire import WireCount

Origin = tuple[str, str, int]

READ_HIGH_WATER = 256 * 1024  # buffered body bytes beyond which reading pauses


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes a request, parses its response.

    The pool that owns it is not imported: it hands in ``on_close``, called once when the
    connection closes, so the pool forgets it.
    """

    def __init__(
        self,
        origin: Origin,
        *,
        loop: asyncio.AbstractEventLoop,
        limits: ResponseLimits,
        on_close: Callable[[Connection], None],
    ) -> None:
        self._on_close = on_close
        self._limits = limits
        self.origin = origin
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.requests = 0  # requests sent on it
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._read_paused = False
        # The response in progress.
        self._active = False
        self._head_only = False  # a HEAD request: no body follows the headers
        self._waiter: asyncio.Future[None] | None = None  # wakes the caller
        self._error: BaseException | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        self._last_read = 0.0
        self.status = 0
        self.http_version = b"HTTP/1.1"
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self._buffered = 0
        self.headers_done = False
        self.coding: str | None = None  # the Content-Encoding to decode, once the head is in
        self.complete = False
        self.keep_alive = False
        self.got_bytes = False
        self._until_eof = False  # a body delimited by the connection's end
        self._wire = WireCount(self._limits)  # the raw bytes of the answer, counted
        self._body_bytes = 0
        self._body_chunks = 0
        self._refused: ResponseRefused | None = None  # a limit broken inside a parser callback
        # The pool's hand-back for an answer whose caller left (:meth:`orphan`); None otherwise.
        self._orphan_done: Callable[[Connection], None] | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._active:
            # Bytes nobody asked for: the connection's framing cannot be trusted any more.
            self.close()
            return
        self.got_bytes = True
        self._last_read = self._loop.time()
        try:
            # Before httptools, which joins an endless header (or trailer) value in memory.
            self._wire.feed(data)
        except ResponseRefused as refused:
            self._fail(refused)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("The server switched protocols"))
        except httptools.HttpParserError as exc:
            if self._refused is None:
                self._fail(httpx.RemoteProtocolError(f"Malformed response: {exc}"))
        if self._refused is not None:
            self._fail(self._refused)
            return
        if self._orphan_done is not None:
            if self.complete:
                self._adopt()
                return
            if not self._reusable_so_far():
                self.close()  # an answer this connection cannot be reused after: why read it
                return
        if self._buffered > READ_HIGH_WATER and not self._read_paused and not self.closed:
            assert self.transport is not None
            self._read_paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._active and not self.complete:
            if exc is None and self._until_eof:
                self._finish()  # the body ended with the connection, as its headers said
            elif exc is None:
                message = (
                    "Server disconnected without sending a complete response body."
                    if self.headers_done
                    else "Server disconnected without sending a response."
                )
                self._fail(httpx.RemoteProtocolError(message))
            else:
                self._fail(httpx.ReadError(f"{type(exc).__name__}: {exc}"), cause=exc)
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)
        self._on_close(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    # --- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            # Bytes after the answer, in the same read: no second answer was asked for, so
            # keep the first one as it is and do not reuse the connection.
            self.keep_alive = False
            return
        self.headers = []
        self.body = []
        self._buffered = 0
        self.reason = b""

    def on_status(self, status: bytes) -> None:
        if not self.complete:
            self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete or self.headers_done:
            return  # bytes after the answer, or a trailer (counted as it was read, dropped)
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim response (103 Early Hints...): the final one follows. Its lines and
            # bytes were counted with the head's as they were read.
            return
        self.status = status
        self.http_version = b"HTTP/" + self._parser.get_http_version().encode("ascii")
        self.keep_alive = bool(self._parser.should_keep_alive())
        try:
            self.coding = self._limits.check_head(status, self.http_version, self.headers)
        except ResponseRefused as refused:
            self._refuse(refused)
        self.headers_done = True
        if self._head_only:
            # httptools cannot be told that a HEAD response has no body: end it here and do
            # not reuse the connection, whose parser would wait for the announced body.
            self.keep_alive = False
            self._finish()
            return
        names = {name.lower() for name, _ in self.headers}
        self._until_eof = b"content-length" not in names and b"transfer-encoding" not in names
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self._body_bytes += len(body)
        self._body_chunks += 1
        if self._body_bytes > self._limits.max_body_bytes:
            self._refuse(self._limits.body_too_large())
        if self._body_chunks > self._limits.max_body_chunks:
            self._refuse(self._limits.too_many_chunks())
        if self._orphan_done is not None:
            return  # counted against the limits, kept by nobody
        self.body.append(body)
        self._buffered += len(body)
        self._wake()

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if not self.headers_done:
            self.on_message_begin()  # the end of an interim response
            return
        if not self.complete:
            self._finish()

    # --- the request in progress --------------------------------------------------------------

    def start(
        self, head: bytes, body: bytes, *, head_only: bool, read_timeout: float | None
    ) -> None:
        """Send a request and get ready for its response."""
        assert self.transport is not None
        self.requests += 1
        self._active = True
        self._head_only = head_only
        self.headers_done = self.complete = self.got_bytes = self._until_eof = False
        self.coding = None
        self._wire = WireCount(self._limits, head_only=head_only)
        self._body_bytes = self._body_chunks = 0
        self._refused = None
        self._error = None
        self._read_timeout = read_timeout
        self._last_read = self._loop.time()
        if read_timeout is not None:
            self._timer = self._loop.call_at(self._last_read + read_timeout, self._check_read)
        self.transport.write(head + body if body and len(body) < 65536 else head)
        if body and len(body) >= 65536:
            self.transport.write(body)

    async def drain(self, write_timeout: float | None) -> None:
        """Wait until the kernel took what was written (only if the send buffer is full)."""
        if not self._write_paused or self.closed:
            return
        self._drained = self._loop.create_future()
        try:
            async with asyncio.timeout(write_timeout):
                await self._drained
        except TimeoutError as exc:
            raise httpx.WriteTimeout("Timed out sending the request") from exc
        finally:
            self._drained = None

    async def wait(self) -> None:
        """Wait for news (headers, body bytes, the end, an error); raise the error if any."""
        if self._error is None and not self._has_news():
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._error is not None:
            raise self._error

    def _has_news(self) -> bool:
        return self.complete or (self.headers_done and bool(self.body))

    def take_body(self) -> list[bytes]:
        chunks, self.body, self._buffered = self.body, [], 0
        if self._read_paused and self.transport is not None and not self.closed:
            self._read_paused = False
            self.transport.resume_reading()
        return chunks

    def orphan(self, done: Callable[[Connection], None], seconds: float) -> None:
        """The caller left (cancelled) after its request was sent: read the answer to its end
        for nobody, within the limits, then hand the connection to ``done`` (the pool); if that
        takes longer than ``seconds``, the answer fails, or it turns out to be one the
        connection cannot be reused after, close it instead.

        So a client that leaves mid-call does not cost the pool its connection: the next call
        finds it idle rather than opening a new one."""
        self._waiter = None
        self.body, self._buffered = [], 0
        if self._read_paused and self.transport is not None and not self.closed:
            self._read_paused = False
            self.transport.resume_reading()
        if self.closed or not self._reusable_so_far():
            self.close()
            return
        self._orphan_done = done
        self._cancel_timer()
        self._timer = self._loop.call_later(seconds, self.close)
        if self.complete:
            self._adopt()

    def _reusable_so_far(self) -> bool:
        """Whether what is known of the answer lets the connection carry another request: not
        a HEAD's (see on_headers_complete), not one that closes the connection or ends with it."""
        if self._head_only or self._error is not None:
            return False
        return not self.headers_done or (self.keep_alive and not self._until_eof)

    def _adopt(self) -> None:
        done, self._orphan_done = self._orphan_done, None
        assert done is not None
        self.body, self._buffered = [], 0
        done(self)

    def done(self) -> bool:
        """Whether the connection may carry another request (and stop the timer)."""
        self._active = False
        self._cancel_timer()
        return self.complete and self.keep_alive and not self.closed and self._error is None

    def close(self) -> None:
        self._active = False
        self._orphan_done = None
        self._cancel_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self._on_close(self)

    def _refuse(self, refused: ResponseRefused) -> None:
        """A limit broken inside a parser callback: stop parsing (data_received fails the call)."""
        if self._refused is None:
            self._refused = refused
        raise refused

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self) -> None:
        self.complete = True
        self._cancel_timer()
        self._wake()

    def _fail(self, error: Exception, *, cause: BaseException | None = None) -> None:
        if self._error is None:
            error.__cause__ = cause
            self._error = error
        self._cancel_timer()
        self._wake()
        self.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_read(self) -> None:
        self._timer = None
        if not self._active or self.complete or self._read_timeout is None:
            return
        now = self._loop.time()
        if self._waiter is None:
            # Nobody is waiting for a byte (the caller is busy with the last ones): not a
            # read timeout; look again later.
            self._last_read = now
        idle = now - self._last_read
        if idle >= self._read_timeout:
            self._fail(httpx.ReadTimeout(f"No data from the server for {self._read_timeout:g} s"))
        else:
            self._timer = self._loop.call_at(self._last_read + self._read_timeout, self._check_read)


class StreamedBody(httpx.AsyncByteStream):
    """The rest of a response body, as it arrives; ``release`` returns the connection at the end."""

    def __init__(self, connection: Connection, release: Callable[[Connection], None]) -> None:
        self._release = release
        self._connection = connection
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            for chunk in connection.take_body():
                yield chunk
            if connection.complete:
                return
            await connection.wait()

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._release(self._connection)
