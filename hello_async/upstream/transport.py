"""A lean HTTP/1.1 transport for HTTPX: asyncio protocols, httptools' parser, an O(1) pool.

``httpx.AsyncClient(transport=Http11Transport(limits=...))`` keeps HTTPX's whole API (the client,
``httpx.Request``/``httpx.Response``, HTTPX's exceptions); only the bytes on the wire are ours.

Why: the upstream calls are most of the CPU a fan-out request costs. Per call, at 100 concurrent
against the bench's delay server (tests/perf figures in docs/performance.md), HTTPX on
httpx-aiohttp costs about 250 us of CPU, raw aiohttp about 90 us, and this transport under the same
``httpx.AsyncClient`` about 125 us; the transport part alone (request out, response in, as HTTPX
objects) about 57 us against aiohttp's 90. httpcore's own pool is not an option at hundreds of
concurrent calls (its pool does work proportional to requests x connections on every change).

What it does
    * HTTP/1.1 over TCP, or TLS for ``https`` (HTTPX's default SSL context, or the one given).
    * One pool for all origins: at most ``max_connections`` connections (callers beyond that
      wait, up to the pool timeout), at most ``max_keepalive_connections`` idle ones, idle ones
      closed after ``keepalive_expiry`` (one timer per pool sweeps them); taking and returning a
      connection is O(1).
    * A connection goes back to the pool only after its response was read whole and both sides
      allow keep-alive; a call that is cancelled or fails closes its connection.
    * A request sent on a pooled connection that the server had closed meanwhile is retried once
      on a new connection, if it has no body and no byte of a response arrived.
    * Timeouts per HTTPX's ``timeout`` extension: connect, pool, write (a blocked send), read
      (no byte for that long while a caller waits for one).
    * A response whose body is complete when its headers are (any small response) is handed
      over whole; a longer one streams, with reading paused while the caller lags.

What it does not: HTTP/2, proxies, Unix sockets, ``Expect: 100-continue``; use
httpx-aiohttp or HTTPX's own transport for those (``UPSTREAM_TRANSPORT=aiohttp``).

Errors are HTTPX's: ``ConnectError``/``ConnectTimeout``, ``PoolTimeout``, ``WriteError``/
``WriteTimeout``, ``ReadError``/``ReadTimeout`` and ``RemoteProtocolError``, each raised ``from``
the underlying exception when there is one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import httptools
import httpx

from hello_async.upstream.limits import ResponseLimits, ResponseRefused, adecode, check_request_head

Origin = tuple[str, str, int]

# sha256 of inspect.getsource() of the HTTPX code relied on (httpx 0.28.1): a response whose
# ``_content`` is set is read (aread returns it; aiter_bytes serves it).
PINNED_SHA256 = {
    "httpx.Response.aread": "b6908ee9b52c8ec693b77caa1f53a759ff6c7a4375fce673b9fe49ebca89ba58",
    "httpx.Response.aiter_bytes": (
        "e4eeded40b7a32d5330f18bdf79c30b2eafc4ceeabada59ff29a5ba0794a12f8"
    ),
}

_READ_HIGH_WATER = 256 * 1024  # buffered body bytes beyond which reading pauses
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes a request, parses its response."""

    def __init__(self, pool: Http11Transport, origin: Origin) -> None:
        self._pool = pool
        self._limits = pool.response_limits
        self.origin = origin
        self._loop = pool.loop
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
        self._head_bytes = 0  # bytes received before the final head was complete
        self._header_count = 0
        self._body_bytes = 0
        self._body_chunks = 0
        self._refused: ResponseRefused | None = None  # a limit broken inside a parser callback

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
        if not self.headers_done:
            self._head_bytes += len(data)
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
        if not self.headers_done and self._head_bytes > self._limits.max_header_bytes:
            # httptools keeps an unfinished header line (or endless header lines) in memory.
            self._fail(self._limits.head_too_large())
            return
        if self._buffered > _READ_HIGH_WATER and not self._read_paused and not self.closed:
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
        self._pool._forget(self)

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
        if self.complete:
            return
        self._header_count += 1
        if self._header_count > self._limits.max_headers:
            self._refuse(self._limits.too_many_headers())
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim response (103 Early Hints...): the final one follows. Its lines count
            # towards the head's limits, so endless interim answers are refused like any head.
            self._header_count += 1
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
        self._head_bytes = self._header_count = self._body_bytes = self._body_chunks = 0
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

    def done(self) -> bool:
        """Whether the connection may carry another request (and stop the timer)."""
        self._active = False
        self._cancel_timer()
        return self.complete and self.keep_alive and not self.closed and self._error is None

    def close(self) -> None:
        self._active = False
        self._cancel_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self._pool._forget(self)

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


class _StreamedBody(httpx.AsyncByteStream):
    """The rest of a response body, as it arrives; gives the connection back when done."""

    def __init__(self, pool: Http11Transport, connection: _Connection) -> None:
        self._pool = pool
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
            self._pool._release(self._connection)


class Http11Transport(httpx.AsyncBaseTransport):
    """HTTPX transport: HTTP/1.1 on asyncio with httptools, one bounded keep-alive pool."""

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        response_limits: ResponseLimits | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        limits = limits or httpx.Limits()
        self.response_limits = response_limits or ResponseLimits()
        self._max_connections = limits.max_connections
        self._max_keepalive = limits.max_keepalive_connections
        self._keepalive_expiry = limits.keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._idle_count = 0
        self._connections: set[_Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def pool_info(self) -> dict[str, int]:
        """Connections open and idle (for tests and metrics)."""
        return {"connections": len(self._connections), "idle": self._idle_count}

    # --- httpx.AsyncBaseTransport ---------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("The transport is closed.")
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        started = loop.time()
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Unsupported URL protocol {scheme!r}")
        origin = (scheme, url.host, url.port or _DEFAULT_PORTS[scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        head, close_after, chunked = _head(request)
        body = await _body(request, chunked=chunked)

        for attempt in (1, 2):
            connection = await self._acquire(origin, timeouts, request)
            reused = connection.requests > 0
            try:
                if connection.closed:
                    raise httpx.WriteError("The connection was closed before the request was sent")
                connection.start(
                    head,
                    body,
                    head_only=request.method == "HEAD",
                    read_timeout=timeouts.get("read"),
                )
                await connection.drain(timeouts.get("write"))
                while not connection.headers_done:
                    await connection.wait()
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                connection.close()
                stale = reused and not connection.got_bytes and not body
                if attempt == 1 and stale:
                    continue  # the server had closed the idle connection: once more, anew
                raise
            except BaseException:
                connection.close()
                raise
            break

        if close_after:
            connection.keep_alive = False
        extensions = {
            "http_version": connection.http_version,
            "reason_phrase": connection.reason,
        }
        coding = connection.coding
        if coding is not None:
            try:
                # An encoded body is read whole (within the body limit) and decoded here, in
                # bounded steps: HTTPX's own decoders expand a body in one call.
                raw = await _read_whole(connection)
                content = await adecode(raw, coding, self.response_limits)
            except BaseException:
                connection.close()
                raise
        elif connection.complete:
            raw = content = b"".join(connection.take_body())
        else:
            return httpx.Response(
                connection.status,
                headers=connection.headers,
                stream=_StreamedBody(self, connection),
                extensions=extensions,
            )
        self._release(connection)
        response = httpx.Response(
            connection.status,
            headers=connection.headers,
            stream=httpx.ByteStream(raw),
            extensions=extensions,
        )
        # Handed over read: the client's aread() returns the content without its stream
        # machinery or its decoders. The raw stream stays unconsumed for a caller that streams.
        response._content = content
        response.elapsed = timedelta(seconds=loop.time() - started)
        return response

    async def aclose(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in list(self._connections):
            connection.close()
        self._idle.clear()
        self._idle_count = 0
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # --- the pool -------------------------------------------------------------------------------

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> _Connection:
        loop = self.loop
        deadline: float | None = None
        while True:
            connection = self._take_idle(origin, loop.time())
            if connection is not None:
                return connection
            if self._closed:
                raise RuntimeError("The transport is closed.")
            if self._max_connections is None or len(self._connections) < self._max_connections:
                return await self._connect(origin, timeouts, request)
            if self._evict_other_idle(origin):
                continue
            if deadline is None and timeouts.get("pool") is not None:
                deadline = loop.time() + float(timeouts["pool"] or 0)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError as exc:
                self._pass_on(waiter)
                raise httpx.PoolTimeout("No connection became free in time") from exc
            except BaseException:
                self._pass_on(waiter)
                raise
            # Woken: loop and take what freed up.

    def _pass_on(self, waiter: asyncio.Future[None]) -> None:
        """A waiter leaves (cancelled, or out of time): if it had been woken in the same step,
        the wake-up is handed to the next waiter, or a free place would go unused."""
        if not waiter.done():
            waiter.cancel()
        elif not waiter.cancelled():
            self._wake_one()

    def _take_idle(self, origin: Origin, now: float) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used one: the least likely stale
            self._idle_count -= 1
            if connection.closed:
                continue
            expiry = self._keepalive_expiry
            if expiry is not None and now - connection.idle_since > expiry:
                connection.close()
                continue
            return connection
        return None

    def _evict_other_idle(self, origin: Origin) -> bool:
        """At the limit with idle connections to other origins: close the oldest of one."""
        for other, idle in self._idle.items():
            if other != origin and idle:
                idle.popleft().close()
                self._idle_count -= 1
                return True
        return False

    async def _connect(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        connection = _Connection(self, origin)
        self._connections.add(connection)
        ssl_context: ssl.SSLContext | None = None
        server_hostname: str | None = None
        if scheme == "https":
            ssl_context = self._ssl_context or httpx.create_ssl_context()
            sni = request.extensions.get("sni_hostname")
            server_hostname = sni.decode() if isinstance(sni, bytes) else (sni or host)
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                await self.loop.create_connection(
                    lambda: connection,
                    host,
                    port,
                    ssl=ssl_context,
                    server_hostname=server_hostname,
                )
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(f"Timed out connecting to {host}:{port}") from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError)
            connection.close()
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            connection.close()
            raise
        return connection

    def _release(self, connection: _Connection) -> None:
        """A response is over: keep its connection for the next request, or close it."""
        reusable = connection.done()
        if (
            reusable
            and not self._closed
            and (self._max_keepalive is None or self._idle_count < self._max_keepalive)
        ):
            connection.idle_since = self.loop.time()
            self._idle.setdefault(connection.origin, deque()).append(connection)
            self._idle_count += 1
            if self._sweeper is None and self._keepalive_expiry is not None:
                self._sweeper = self.loop.call_later(self._keepalive_expiry, self._sweep)
            self._wake_one()
        else:
            connection.close()

    def _sweep(self) -> None:
        """Close the connections idle for longer than the keep-alive expiry (the oldest are at
        the left of each origin's deque), and look again while any stay idle."""
        self._sweeper = None
        expiry = self._keepalive_expiry
        if expiry is None or self._closed:
            return
        now = self.loop.time()
        for idle in self._idle.values():
            while idle and now - idle[0].idle_since > expiry:
                idle.popleft().close()
                self._idle_count -= 1
        if self._idle_count:
            self._sweeper = self.loop.call_later(expiry, self._sweep)

    def _forget(self, connection: _Connection) -> None:
        """A connection closed (by us or by the server): free its place in the pool."""
        if connection in self._connections:
            self._connections.discard(connection)
            idle = self._idle.get(connection.origin)
            if idle and not connection._active:
                try:
                    idle.remove(connection)  # closed by the server while idle (rare: O(n))
                    self._idle_count -= 1
                except ValueError:
                    pass
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


async def _read_whole(connection: _Connection) -> bytes:
    chunks = connection.take_body()
    while not connection.complete:
        await connection.wait()
        chunks += connection.take_body()
    return b"".join(chunks)


# --- the request on the wire --------------------------------------------------------------------


Head = tuple[bytes, bool, bool]
_heads: dict[tuple[str, bytes, tuple[tuple[bytes, bytes], ...]], Head] = {}
_HEADS_MAX = 512


def _head(request: httpx.Request) -> Head:
    """The request line and headers; whether the request asked to close the connection, and
    whether its body is chunked. Built (and checked) once per distinct head: a client calling
    the same URL sends the same bytes every time."""
    key = (request.method, request.url.raw_path, tuple(request.headers.raw))
    head = _heads.get(key)
    if head is None:
        head = _build_head(*key)
        if len(_heads) >= _HEADS_MAX:
            _heads.clear()
        _heads[key] = head
    return head


def _build_head(method: str, target: bytes, headers: tuple[tuple[bytes, bytes], ...]) -> Head:
    check_request_head(method.encode("ascii", "replace"), headers)
    parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    close_after = chunked = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"connection" and value.lower() == b"close":
            close_after = True
        elif lowered == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts), close_after, chunked


async def _body(request: httpx.Request, *, chunked: bool) -> bytes:
    """The request body, framed as its headers say (Content-Length, or chunked)."""
    stream: Any = request.stream
    if isinstance(stream, httpx.SyncByteStream):
        chunks = list(stream)
    else:
        chunks = [chunk async for chunk in stream]
    if chunked:
        framed = [b"%x\r\n%b\r\n" % (len(chunk), chunk) for chunk in chunks if chunk]
        return b"".join(framed) + b"0\r\n\r\n"
    return b"".join(chunks)
