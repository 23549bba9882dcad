"""The bench's load for event streams: N clients, each opening a stream, reading it to its end,
and opening the next, for the time given.

``python -m hello_async.bench.sseload URL -c N -d SECONDS`` prints one JSON line: the streams
read whole (ending with their ``result`` event), errors (refused, failed, or ended without it),
seconds, the time to each stream's first event (p50, p99, in ms) and the events read, all inside
the window (a stream still open at its end is cut: its events count, not the stream).
Plain asyncio sockets (HTTP/1.1, chunked as Uvicorn sends a stream), so the generator itself
stays light at a thousand streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from urllib.parse import urlsplit

from hello_async.bench.loadgen import TIMEOUT_SECONDS, LoadError
from hello_async.bench.stats import LoadResult

EVENT = b"\nevent: "
# The live view's last event: the stream was served whole (lines end in LF, or CRLF as
# sse-starlette sends them).
RESULT = re.compile(rb"\nevent: result\r?\n")
KEEP = 512  # bytes of the stream's end kept to find the result in (it is under 100)


class SseLoadGenerator:
    name = "sse"
    description = "built-in event-stream reader (asyncio)"

    def run(
        self, url: str, *, concurrency: int, seconds: float, prefix: Sequence[str] = ()
    ) -> LoadResult:
        argv = [*prefix, sys.executable, "-m", "hello_async.bench.sseload", url]
        argv += ["-c", str(concurrency), "-d", f"{seconds:g}"]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + TIMEOUT_SECONDS + 60
        )
        if done.returncode != 0:
            raise LoadError(f"sseload exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        try:
            return LoadResult(**json.loads(done.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError, TypeError) as exc:
            raise LoadError(f"unreadable output from sseload:\n{done.stdout}") from exc


class Tally:
    """What the clients read inside the measured window: events, streams, first-event times."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds
        self.events = 0
        self.streams = 0
        self.errors = 0
        self.firsts: list[float] = []  # ms

    def open(self) -> bool:
        return time.perf_counter() < self.deadline


async def read_stream(host: str, port: int, target: str, tally: Tally) -> None:
    """One stream, read to its end; what arrives inside the window is counted in ``tally`` (a
    stream cut by the window's end counts its events, not itself). Raises on any failure."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        first = True
        tail = b"\n"
        last = b""  # the stream's end so far: its last event must be the result
        while chunk := await reader.read(65536):
            text = tail + chunk
            found = text.count(EVENT)
            tail = text[-(len(EVENT) - 1) :]
            last = (last + chunk)[-KEEP:]
            if not tally.open():
                return
            if found and first:
                tally.firsts.append((time.perf_counter() - started) * 1000)
                first = False
            tally.events += found
        if not RESULT.search(last):  # an error event, or cut short: not a stream served whole
            raise ConnectionError("the stream ended without its result")
        tally.streams += 1
    finally:
        writer.close()


async def agenerate(url: str, *, concurrency: int, seconds: float) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    tally = Tally(seconds)

    async def client() -> None:
        while tally.open():
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS + 10):
                    await read_stream(host, port, target, tally)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                if tally.open():
                    tally.errors += 1
                    tally.firsts.append(float(TIMEOUT_SECONDS) * 1000)

    async with asyncio.timeout(seconds + TIMEOUT_SECONDS + 20):
        await asyncio.gather(*(client() for _ in range(concurrency)))
    result = LoadResult.from_latencies(tally.firsts, errors=tally.errors, seconds=seconds)
    return LoadResult(**{**asdict(result), "requests": tally.streams, "events": tally.events})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hello_async.bench.sseload")
    parser.add_argument("url")
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("-d", "--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    import uvloop

    result = uvloop.run(agenerate(args.url, concurrency=args.concurrency, seconds=args.seconds))
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
