"""An upstream that misbehaves on purpose, for the hostile-upstream tests.

    with HostileUpstream() as hostile:       # hostile.url goes where the upstream's URL went
        hostile.set("gzip_bomb")             # every request now gets that answer

A small asyncio server in a thread of its own (so sync tests, async tests and servers in other
processes can all use it). Each case writes as fast as the client reads, for as long as the
client stays: a client without limits meets the whole of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import zlib
from collections.abc import Awaitable, Callable
from types import TracebackType

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\n"
PIECE = 64 * 1024


def _gzip_zeros(size: int) -> bytes:
    """``size`` zero bytes, gzipped in pieces (never all in memory)."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(size >> 20)]
    return b"".join([*parts, packer.flush()])


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _deflate_zeros(size: int) -> bytes:
    packer = zlib.compressobj(1)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(size >> 20)), packer.flush()])


class Bombs:
    """Built once (about 1.5 s): 1 GiB of zeros gzipped twice (12 KiB), once (4.5 MiB) and
    deflated (4.5 MiB)."""

    def __init__(self) -> None:
        gzipped = _gzip_zeros(1 << 30)
        self.gzip_gzip = _gzip(gzipped)
        self.gzip = gzipped
        self.deflate = _deflate_zeros(1 << 30)


def _answer(body: bytes, *headers: bytes) -> bytes:
    head = b"".join(h + b"\r\n" for h in headers)
    return OK + b"Content-Length: %d\r\n%b\r\n%b" % (len(body), head, body)


async def _endless(writer: asyncio.StreamWriter, prefix: bytes, piece: bytes) -> None:
    writer.write(prefix)
    repeated = piece * max(1, PIECE // len(piece))
    while True:
        writer.write(repeated)
        await writer.drain()


def cases(bombs: Bombs) -> dict[str, Writer]:
    """Each case: what the upstream writes after reading a request. The issue's six first."""

    def once(raw: bytes) -> Writer:
        async def write(writer: asyncio.StreamWriter) -> None:
            writer.write(raw)
            await writer.drain()

        return write

    def endless(prefix: bytes, piece: bytes) -> Writer:
        async def write(writer: asyncio.StreamWriter) -> None:
            await _endless(writer, prefix, piece)

        return write

    return {
        # The table.
        "gzip_gzip_bomb": once(_answer(bombs.gzip_gzip, b"Content-Encoding: gzip, gzip")),
        "endless_header_line": endless(OK + b"X-Smoke: ", b"s"),
        "endless_headers": endless(OK, b"X-Smoke: ribs\r\n"),
        "endless_body_no_length": endless(OK + b"Connection: close\r\n\r\n", b"ribs"),
        "endless_chunked_body": endless(
            OK + b"Transfer-Encoding: chunked\r\n\r\n", b"4\r\nribs\r\n"
        ),
        "status_000": once(b"HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok"),
        # More of our own.
        "gzip_bomb": once(_answer(bombs.gzip, b"Content-Encoding: gzip")),
        "deflate_bomb": once(_answer(bombs.deflate, b"Content-Encoding: deflate")),
        "endless_interim_answers": endless(b"", b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"),
        "huge_declared_length": endless(OK + b"Content-Length: 10000000000\r\n\r\n", b"ribs"),
        "unknown_encoding": once(_answer(b"ribs", b"Content-Encoding: snappy")),
        "status_999": once(b"HTTP/1.1 999 OK\r\nContent-Length: 2\r\n\r\nok"),
        "http_9": once(b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        "control_char_in_header": once(
            b"HTTP/1.1 200 OK\r\nX-Smoke: a\x01b\r\nContent-Length: 2\r\n\r\nok"
        ),
    }


# The cases' names, known before the bombs are built (for pytest's parametrize).
NAMES = (
    "gzip_gzip_bomb",
    "endless_header_line",
    "endless_headers",
    "endless_body_no_length",
    "endless_chunked_body",
    "status_000",
    "gzip_bomb",
    "deflate_bomb",
    "endless_interim_answers",
    "huge_declared_length",
    "unknown_encoding",
    "status_999",
    "http_9",
    "control_char_in_header",
)


class HostileUpstream:
    def __init__(self, bombs: Bombs) -> None:
        self._cases = cases(bombs)
        assert tuple(self._cases) == NAMES
        self.mode = "status_000"
        self.url = ""
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def set(self, mode: str) -> None:
        if mode not in self._cases:
            raise ValueError(f"no case {mode!r}")
        self.mode = mode

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                await self._cases[self.mode](writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    def __enter__(self) -> HostileUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
