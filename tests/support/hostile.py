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
import itertools
import re
import threading
import zlib
from collections.abc import Awaitable, Callable
from types import TracebackType

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\n"
CHUNKED = OK + b"Transfer-Encoding: chunked\r\n\r\n"
PIECE = 64 * 1024
COOKIES = 50


def _gzip_zeros(size: int) -> bytes:
    """``size`` zero bytes, gzipped in pieces (never all in memory)."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(size >> 20)]
    return b"".join([*parts, packer.flush()])


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _deflate_zeros(size: int, level: int = 1) -> bytes:
    packer = zlib.compressobj(level)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(size >> 20)), packer.flush()])


class Bombs:
    """Built once (about 2 s): 1 GiB of zeros gzipped twice (12 KiB), once (4.5 MiB) and
    deflated (4.5 MiB); 200 MiB deflated at level 9 (200 KiB: under the body limit, so only
    the decoder's bound refuses it)."""

    def __init__(self) -> None:
        gzipped = _gzip_zeros(1 << 30)
        self.gzip_gzip = _gzip(gzipped)
        self.gzip = gzipped
        self.deflate = _deflate_zeros(1 << 30)
        self.small_deflate = _deflate_zeros(200 << 20, level=9)


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

    def once(raw: bytes, *, close: bool = False) -> Writer:
        async def write(writer: asyncio.StreamWriter) -> None:
            writer.write(raw)
            await writer.drain()
            if close:  # the body ends with the connection
                writer.close()

        return write

    served = itertools.count()

    async def new_cookies(writer: asyncio.StreamWriter) -> None:
        # 50 new 1 KiB cookies per answer: a client that keeps them sends them all back.
        n = next(served)
        value = b"c" * 1000
        cookies = b"".join(
            b"Set-Cookie: s%d_%d=%b; Path=/\r\n" % (n, i, value) for i in range(COOKIES)
        )
        writer.write(OK + cookies + b"Content-Length: 2\r\n\r\nok")
        await writer.drain()

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
        # Issue 17.
        "endless_trailer_line": endless(CHUNKED + b"2\r\nok\r\n0\r\nX-Trailer: ", b"a"),
        "endless_trailer_lines": endless(CHUNKED + b"2\r\nok\r\n0\r\n", b"X-Trailer: a\r\n"),
        "bare_interim_answers": once(
            b"HTTP/1.1 100 Continue\r\n\r\n" * 3000 + b"HTTP/1.0 200 OK\r\n\r\nok", close=True
        ),
        "small_deflate_bomb": once(_answer(bombs.small_deflate, b"Content-Encoding: deflate")),
        "new_cookies": new_cookies,  # not refused: a 200 (tests/system/test_hostile_upstream.py)
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
    "endless_trailer_line",
    "endless_trailer_lines",
    "bare_interim_answers",
    "small_deflate_bomb",
    "new_cookies",
)

# What refuses each answer, as the error says it (a pattern): the limit and its setting on every
# path; a broken protocol rule in the words of the parser that saw it.
REFUSED_BY = {
    "gzip_gzip_bomb": r"more than one content encoding",
    "endless_header_line": re.escape("(UPSTREAM_MAX_HEADER_BYTES)"),
    "endless_headers": re.escape("(UPSTREAM_MAX_HEADERS)"),
    "endless_body_no_length": re.escape(
        "response body over 262144 bytes (UPSTREAM_MAX_BODY_BYTES)"
    ),
    "endless_chunked_body": re.escape("(UPSTREAM_MAX_BODY_CHUNKS)"),
    "status_000": r"outside 100-599|status_code should be in range",
    "gzip_bomb": re.escape("body (as declared) over 262144 bytes (UPSTREAM_MAX_BODY_BYTES)"),
    "deflate_bomb": re.escape("body (as declared) over 262144 bytes (UPSTREAM_MAX_BODY_BYTES)"),
    "endless_interim_answers": re.escape("interim answers included (UPSTREAM_MAX_HEADERS)"),
    "huge_declared_length": re.escape(
        "body (as declared) over 262144 bytes (UPSTREAM_MAX_BODY_BYTES)"
    ),
    "unknown_encoding": r"unsupported content encoding",
    "status_999": r"outside 100-599",
    "http_9": r"unsupported HTTP version|Invalid HTTP version|HttpProcessingError: 400",
    "control_char_in_header": r"control character in header|Invalid header value char",
    "endless_trailer_line": re.escape(
        "head and trailers over 65536 bytes (UPSTREAM_MAX_HEADER_BYTES)"
    ),
    "endless_trailer_lines": re.escape("trailers included (UPSTREAM_MAX_HEADERS)"),
    "bare_interim_answers": re.escape("interim answers included (UPSTREAM_MAX_HEADERS)"),
    "small_deflate_bomb": re.escape(
        "response body (decoded) over 262144 bytes (UPSTREAM_MAX_BODY_BYTES)"
    ),
}
REFUSED = tuple(REFUSED_BY)  # the cases that must end in a 502


class HostileUpstream:
    def __init__(self, bombs: Bombs) -> None:
        self._cases = cases(bombs)
        assert tuple(self._cases) == NAMES
        self.mode = "status_000"
        self.url = ""
        self.requests = 0
        self.cookie_headers = 0  # requests that arrived with a Cookie header
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
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                if b"\ncookie:" in head.lower():
                    self.cookie_headers += 1
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
