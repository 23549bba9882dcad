"""A TCP proxy on loopback that injects upstream faults, for the reliability tests.

    with FaultProxy(target_url) as proxy:      # proxy.url goes where the upstream's URL went
        proxy.set(Blackhole())                 # accept, never answer
        ...
        proxy.set(Pass())                      # the fault clears

The proxy runs its own event loop in a thread, so sync tests, async tests and servers in
other processes can all use it. The mode is read for every chunk, so a fault also hits
connections the client already holds in its pool, as a real fault would:

    Pass()              forward both ways
    Latency(ms)         hold the first byte of each answer for ``ms``
    Drip(per_second)    forward answers one byte at a time, ``per_second`` bytes a second
    ResetAfter(n)       forward ``n`` bytes of an answer, then reset both sides (RST)
    Blackhole()         accept and read requests, never connect upstream, never answer
    Refuse()            close the listener (connections are refused) and reset open ones

Counters (:class:`Counts`): connections open from the client and to the upstream, requests
seen, and *abandoned*: requests whose client closed the connection before any byte of the
answer came back (a call the client cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Pass:
    pass


@dataclass(frozen=True)
class Latency:
    ms: float


@dataclass(frozen=True)
class Drip:
    per_second: float


@dataclass(frozen=True)
class ResetAfter:
    n: int


@dataclass(frozen=True)
class Blackhole:
    pass


@dataclass(frozen=True)
class Refuse:
    pass


Mode = Pass | Latency | Drip | ResetAfter | Blackhole | Refuse


@dataclass(frozen=True)
class Counts:
    client_open: int  # connections from the client, open now
    upstream_open: int  # connections to the upstream, open now
    accepted: int  # connections accepted in all
    requests: int  # requests received in all (a chunk from the client while none is pending)
    abandoned: int  # requests whose client left before the first byte of the answer


class FaultProxy:
    def __init__(self, target_url: str, *, host: str = "127.0.0.1") -> None:
        target = urlsplit(target_url)
        assert target.hostname is not None and target.port is not None, target_url
        self._target = (target.hostname, target.port)
        self._host = host
        self.port = 0
        self._mode: Mode = Pass()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy")
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._changed = threading.Condition()
        self._client_open = 0
        self._upstream_open = 0
        self._accepted = 0
        self._requests = 0
        self._abandoned = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # --- lifetime (called from the test's thread) --------------------------------------------

    def start(self) -> str:
        self._thread.start()
        self._call(self._listen())
        return self.url

    def stop(self) -> None:
        self._call(self._close_all(listener=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def set(self, mode: Mode) -> None:
        """Switch the fault; Refuse closes the listener, any other mode reopens it."""
        self._call(self._aset(mode))

    @property
    def mode(self) -> Mode:
        return self._mode

    def counts(self) -> Counts:
        with self._changed:
            return Counts(
                self._client_open,
                self._upstream_open,
                self._accepted,
                self._requests,
                self._abandoned,
            )

    def wait_until(self, check: Callable[[Counts], bool], *, timeout: float = 10.0) -> Counts:
        """Wait until ``check(counts)`` holds; returns the counts, or raises on timeout."""
        with self._changed:
            self._changed.wait_for(lambda: check(self.counts()), timeout=timeout)
        counts = self.counts()
        if not check(counts):
            raise AssertionError(f"fault proxy counts never satisfied the check: {counts}")
        return counts

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def _count(self, **delta: int) -> None:
        with self._changed:
            for name, value in delta.items():
                setattr(self, f"_{name}", getattr(self, f"_{name}") + value)
            self._changed.notify_all()

    # --- on the proxy's loop -------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self._host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _aset(self, mode: Mode) -> None:
        self._mode = mode
        if isinstance(mode, Refuse):
            await self._close_all(listener=True)
        else:
            await self._listen()

    async def _close_all(self, *, listener: bool) -> None:
        if listener and self._server is not None:
            # No wait_closed(): from 3.12 it waits for every connection, which we reset below.
            self._server.close()
            self._server = None
        for connection in list(self._connections):
            connection.reset()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        self._count(client_open=1, accepted=1)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            self._count(client_open=-1)


class _Connection:
    def __init__(
        self, proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.reader = reader
        self.writer = writer
        self.upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.answering: asyncio.Task[None] | None = None
        self.awaiting_answer = False  # a request went out, no byte of its answer came back
        self.answer_started_at = 0.0
        self.answer_bytes = 0

    async def run(self) -> None:
        try:
            while chunk := await self.reader.read(65536):
                if not self.awaiting_answer:
                    self.proxy._count(requests=1)
                self.awaiting_answer = True
                self.answer_started_at = time.monotonic()
                self.answer_bytes = 0
                if isinstance(self.proxy.mode, Blackhole):
                    continue  # swallowed: never forwarded, never answered
                if self.upstream is None:
                    await self._connect()
                assert self.upstream is not None
                self.upstream[1].write(chunk)
                await self.upstream[1].drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if self.awaiting_answer:
                self.proxy._count(abandoned=1)
            await self._close()

    async def _connect(self) -> None:
        self.upstream = await asyncio.open_connection(*self.proxy._target)
        self.proxy._count(upstream_open=1)
        self.answering = asyncio.create_task(self._answer(self.upstream[0]))

    async def _answer(self, upstream: asyncio.StreamReader) -> None:
        try:
            while chunk := await upstream.read(65536):
                await self._forward(chunk)
        except (ConnectionError, OSError):
            pass
        # The upstream closed: so does the client's side.
        self.awaiting_answer = False
        self.writer.close()

    async def _forward(self, chunk: bytes) -> None:
        mode = self.proxy.mode
        if isinstance(mode, Blackhole):
            return
        if isinstance(mode, Latency) and self.answer_bytes == 0:
            wait = self.answer_started_at + mode.ms / 1000 - time.monotonic()
            await asyncio.sleep(max(0.0, wait))
        if isinstance(mode, ResetAfter) and self.answer_bytes + len(chunk) > mode.n:
            self._send(chunk[: max(0, mode.n - self.answer_bytes)])
            await self.writer.drain()
            self.reset()
            return
        while isinstance(mode, Drip) and chunk:
            self._send(chunk[:1])
            chunk = chunk[1:]
            await self.writer.drain()
            await asyncio.sleep(1 / mode.per_second)
            mode = self.proxy.mode  # the fault may clear mid-answer
        self._send(chunk)
        await self.writer.drain()

    def _send(self, data: bytes) -> None:
        if data:
            self.awaiting_answer = False
            self.answer_bytes += len(data)
            self.writer.write(data)

    def reset(self) -> None:
        """Close both sides with a TCP reset (SO_LINGER 0), as a crashed peer would."""
        for writer in (self.writer, self.upstream[1] if self.upstream else None):
            if writer is None or writer.transport.is_closing():
                continue
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.awaiting_answer = False

    async def _close(self) -> None:
        if self.answering is not None:
            self.answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.answering
        if self.upstream is not None:
            self.upstream[1].close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.upstream[1].wait_closed()
            self.upstream = None
            self.proxy._count(upstream_open=-1)
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
