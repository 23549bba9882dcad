"""The bench's upstream: a small HTTP/1.1 server that answers every GET after a delay.

``python -m hello_async.bench.delay_server --delay-ms 100 [--port 0]`` answers any path after
100 ms, and ``/delay/<seconds>`` after that many seconds, as httpbin does. It prints
``LISTENING <url>`` once bound and exits when its parent does.

Raw ``asyncio`` protocols on uvloop rather than a framework: a delayed answer costs a timer
and one write, so one CPU serves thousands of requests a second and the upstream is not what
a bench measures (the bench checks that, at the same concurrency, in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import cast

READY_PREFIX = "LISTENING "
MAX_DELAY_SECONDS = 60.0
MAX_HEAD_BYTES = 16 * 1024

_BODY = b'{"delayed": true}\n'


def _response(status: str, body: bytes, *, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body


def delay_for(path: str, default: float) -> float | None:
    """Seconds to wait before answering ``path``; None for a malformed ``/delay/<seconds>``."""
    path = path.split("?", 1)[0]
    if not path.startswith("/delay/"):
        return default
    try:
        seconds = float(path.removeprefix("/delay/").rstrip("/"))
    except ValueError:
        return None
    if not 0 <= seconds <= MAX_DELAY_SECONDS:
        return None
    return seconds


class DelayProtocol(asyncio.Protocol):
    """One connection: requests are answered in order (HTTP/1.1 pipelining keeps order)."""

    def __init__(self, default_delay: float) -> None:
        self.default_delay = default_delay
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.pending: list[asyncio.Future[bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for future in self.pending:
            future.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self._answer(head)
        if len(self.buffer) > MAX_HEAD_BYTES and self.transport is not None:
            self.transport.close()

    def _answer(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        keep_alive = headers.get("connection", "").lower() != "close" and lines[0].endswith("1.1")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self.pending.append(future)
        seconds = delay_for(parts[1], self.default_delay) if len(parts) == 3 else None
        if seconds is None:
            future.set_result(_response("400 Bad Request", b"bad request\n", keep_alive=False))
        else:
            body = _response("200 OK", _BODY, keep_alive=keep_alive)
            loop.call_later(seconds, _resolve, future, body)
        future.add_done_callback(self._flush)

    def _flush(self, _: asyncio.Future[bytes]) -> None:
        # Write every answer that is ready, in request order.
        while self.pending and self.pending[0].done():
            future = self.pending.pop(0)
            if future.cancelled() or self.transport is None:
                continue
            payload = future.result()
            self.transport.write(payload)
            if b"Connection: close" in payload[:200]:
                self.transport.close()
                return


def _resolve(future: asyncio.Future[bytes], body: bytes) -> None:
    if not future.done():
        future.set_result(body)


async def aserve(host: str, port: int, delay: float, parent: int | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: DelayProtocol(delay), host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()
    print(f"{READY_PREFIX}http://{bound[0]}:{bound[1]}", flush=True)
    async with server:
        while parent is None or os.getppid() == parent:  # noqa: ASYNC110 (polls the parent)
            await asyncio.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hello_async.bench.delay_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=100.0, help="default delay (ms)")
    parser.add_argument("--parent", type=int, default=None, help="exit when this PID is gone")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover (uvicorn[standard] brings uvloop)
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(aserve(args.host, args.port, args.delay_ms / 1000, args.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
