"""An HTTP/1.1 transport for HTTPX: asyncio protocols, httptools' parser, an O(1) pool.

``httpx.AsyncClient(transport=Http11Transport(limits=...))`` keeps HTTPX's whole API (the client,
``httpx.Request``/``httpx.Response``, HTTPX's exceptions); only the bytes on the wire are ours.
HTTPX's own pool (httpcore) does work proportional to requests x connections on every change
and gives out at hundreds of concurrent calls; httpx-aiohttp costs more per call
(docs/performance.md).

    * HTTP/1.1 over TCP, or TLS for ``https``; one pool for all origins, at most
      ``max_connections`` (callers beyond wait up to the pool timeout, served in the order they
      came: a returned connection, or a freed place, goes to the first waiter, never to a caller
      that came later), idle ones closed after ``keepalive_expiry`` by one timer per pool;
      taking and returning a connection is O(1).
    * A connection goes back to the pool only after its answer was read whole and both sides
      allow keep-alive; a call that fails closes its connection. A call cancelled after its
      request went out (its client left), while it waited for the answer's head or read an
      encoded body, leaves the answer to be read for nobody, for up to ``drain_cancelled``
      seconds, and the connection then goes back to the pool: the next call finds it rather
      than opening one. Past that time, with 0, with callers waiting for a place, or for an
      answer the connection cannot be reused after, it is closed. (A call cancelled while it
      streams a body closes its connection: ``StreamedBody``.)
    * A request on a pooled connection the server had closed meanwhile is retried once on a new
      one, if it has no body and no byte of an answer arrived.
    * HTTPX's timeouts: connect, pool, write (a blocked send), read (no byte for that long while
      a caller waits for one).
    * The upstream's limits (hello_async.upstream.limits), applied as the answer is parsed; an
      encoded body is read whole and decoded here in bounded steps.

Not: HTTP/2, proxies, Unix sockets, ``Expect: 100-continue`` (``UPSTREAM_TRANSPORT=aiohttp``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from datetime import timedelta
from typing import Any

import httpx

from hello_async.upstream.clients import default_ssl_context
from hello_async.upstream.connection import Connection, Origin, StreamedBody
from hello_async.upstream.limits import ResponseLimits, adecode, check_request_head, read_response

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Http11Transport(httpx.AsyncBaseTransport):
    """HTTPX transport: HTTP/1.1 on asyncio with httptools, one bounded keep-alive pool."""

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        response_limits: ResponseLimits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        hand_over_read: bool = False,
        drain_cancelled: float = 0.0,
    ) -> None:
        limits = limits or httpx.Limits()
        self.drain_cancelled = drain_cancelled
        self.response_limits = response_limits or ResponseLimits()
        self.hand_over_read = hand_over_read
        self._max_connections = limits.max_connections
        self._max_keepalive = limits.max_keepalive_connections
        self._keepalive_expiry = limits.keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[Origin, deque[Connection]] = {}
        self._idle_count = 0
        self._connections: set[Connection] = set()
        # Callers waiting for a connection, first come first served: each future gets a
        # connection handed over (same origin), or None: a place is kept free for it to connect.
        self._waiters: deque[tuple[Origin, asyncio.Future[Connection | None]]] = deque()
        self._kept_places = 0  # places freed for woken waiters that have not connected yet
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._sweeper: asyncio.TimerHandle | None = None
        # Connections reading a cancelled call's answer for nobody (_left), oldest first.
        self._orphans: dict[Connection, None] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def pool_info(self) -> dict[str, int]:
        """Connections open and idle."""
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
            sent = False
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
                sent = True
                while not connection.headers_done:
                    await connection.wait()
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                connection.close()
                stale = reused and not connection.got_bytes and not body
                if attempt == 1 and stale:
                    continue  # the server had closed the idle connection: once more, anew
                raise
            except asyncio.CancelledError:
                self._left(connection, may_drain=sent and not close_after)
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
            except asyncio.CancelledError:
                self._left(connection, may_drain=not close_after)
                raise
            except BaseException:
                connection.close()
                raise
            try:
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
                stream=StreamedBody(connection, self._release),
                extensions=extensions,
            )
        self._release(connection)
        if not self.hand_over_read:
            response = read_response(
                connection.status,
                connection.headers,
                content,
                coding=coding,
                extensions=extensions,
            )
        else:
            # The fast path's handover (fork "handover"): the answer as sent, marked read, so
            # the client's aread() returns the content without its stream machinery or its
            # decoders; the raw stream stays unconsumed for a caller that streams.
            response = httpx.Response(
                connection.status,
                headers=connection.headers,
                stream=httpx.ByteStream(raw),
                extensions=extensions,
            )
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
            _origin, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # --- the pool -------------------------------------------------------------------------------

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> Connection:
        loop = self.loop
        if not self._waiters:  # callers already waiting go first: no idle or new one for us
            connection = self._take_idle(origin, loop.time())
            if connection is not None:
                return connection
            if self._has_room():
                return await self._connect(origin, timeouts, request)
            if self._evict_other_idle(origin) and self._has_room():
                return await self._connect(origin, timeouts, request)
            if self._close_an_orphan() and self._has_room():
                return await self._connect(origin, timeouts, request)
        deadline: float | None = None
        if timeouts.get("pool") is not None:
            deadline = loop.time() + float(timeouts["pool"] or 0)
        while True:
            if self._closed:
                raise RuntimeError("The transport is closed.")
            waiter: asyncio.Future[Connection | None] = loop.create_future()
            self._waiters.append((origin, waiter))
            try:
                async with asyncio.timeout_at(deadline):
                    handed = await waiter
            except TimeoutError as exc:
                self._pass_on(waiter)
                raise httpx.PoolTimeout("No connection became free in time") from exc
            except BaseException:
                self._pass_on(waiter)
                raise
            if handed is not None:
                return handed
            if self._closed:
                raise RuntimeError("The transport is closed.")
            self._kept_places -= 1  # the place kept for us: ours now
            return await self._connect(origin, timeouts, request)

    def _left(self, connection: Connection, *, may_drain: bool) -> None:
        """The caller was cancelled (its client left) while it waited for the answer's head or
        read an encoded body: if ``may_drain`` (the request went out whole and did not ask to
        close the connection), the answer is read for nobody, for up to ``drain_cancelled``
        seconds, and the connection goes back to the pool (``Connection.orphan``). Otherwise,
        or with callers waiting for a place (they would wait for the drain), it is closed."""
        if (
            may_drain
            and self.drain_cancelled > 0
            and not connection.closed
            and not self._closed
            and not self._waiters
        ):
            self._orphans[connection] = None
            connection.orphan(self._adopt, self.drain_cancelled)
        else:
            connection.close()

    def _adopt(self, connection: Connection) -> None:
        """A drained connection, its answer read whole: back to the pool (or to a waiter)."""
        self._orphans.pop(connection, None)
        self._release(connection)

    def _close_an_orphan(self) -> bool:
        """At the limit with connections draining for nobody: close the oldest, for a caller."""
        oldest = next(iter(self._orphans), None)
        if oldest is None:
            return False
        oldest.close()  # _forget drops it from the orphans and frees its place
        return True

    def _has_room(self) -> bool:
        limit = self._max_connections
        return limit is None or len(self._connections) + self._kept_places < limit

    def _pass_on(self, waiter: asyncio.Future[Connection | None]) -> None:
        """A waiter leaves (cancelled, or out of time): what it was given in the same step, a
        connection or a kept place, goes to the next waiter, or it would go unused."""
        if not waiter.done():
            waiter.cancel()
            # Out of the queue now (O(n), on a timeout or a cancel only): a dead entry would
            # make later callers queue behind it with places free.
            self._waiters = deque(w for w in self._waiters if w[1] is not waiter)
        elif not waiter.cancelled():
            handed = waiter.result()
            if handed is not None:
                self._release(handed)
            else:
                self._kept_places -= 1
                self._wake_one()

    def _take_idle(self, origin: Origin, now: float) -> Connection | None:
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
    ) -> Connection:
        scheme, host, port = origin
        connection = Connection(
            origin, loop=self.loop, limits=self.response_limits, on_close=self._forget
        )
        self._connections.add(connection)
        ssl_context: ssl.SSLContext | None = None
        server_hostname: str | None = None
        if scheme == "https":
            ssl_context = self._ssl_context or default_ssl_context()
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

    def _release(self, connection: Connection) -> None:
        """A response is over: hand its connection to the first waiter, keep it for the next
        request, or close it."""
        reusable = connection.done()
        if reusable and not self._closed and self._hand_over(connection):
            return
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
        else:
            connection.close()

    def _hand_over(self, connection: Connection) -> bool:
        """To the first waiter: the connection itself when it wants the same origin; else the
        connection is closed, which keeps its place for that waiter (``_forget``)."""
        while self._waiters:
            origin, waiter = self._waiters[0]
            if waiter.done():
                self._waiters.popleft()
                continue
            if origin == connection.origin:
                self._waiters.popleft()
                waiter.set_result(connection)
            else:
                connection.close()
            return True
        return False

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

    def _forget(self, connection: Connection) -> None:
        """A connection closed (by us or by the server): free its place in the pool."""
        self._orphans.pop(connection, None)
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
        """A place in the pool is free: keep it for the first waiter, which connects."""
        while self._waiters:
            _origin, waiter = self._waiters.popleft()
            if not waiter.done():
                self._kept_places += 1
                waiter.set_result(None)
                return


async def _read_whole(connection: Connection) -> bytes:
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
