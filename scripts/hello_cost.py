"""What `/` costs the server's CPU, in process: Uvicorn's protocol and the application, no network.

    uv run python scripts/hello_cost.py [--requests 3000] [--rounds 5] [--connections 1]

For the `/` row beside django-bolt (docs/performance.md): each application (a bare ASGI callable
answering the text, the FastAPI peer, ours) is served by Uvicorn's own ``HttpToolsProtocol`` on
uvloop, fed ``GET /`` on one keep-alive connection through a stand-in transport that keeps what
is written, one request after the other. Each round runs in a fresh process, the applications
alternated; the CPU time per request is the least of the rounds (contention only adds).
``--connections N`` feeds N connections a request each at once, N requests in flight as under a
load generator (the working set of N requests, the collector's passes over them). What
the bare callable costs is what Uvicorn, httptools and the loop cost: no application under
Uvicorn can answer for less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n\r\n"
APPS = ("bare", "fastapi", "ours")


class Transport(asyncio.Transport):
    """Keeps the bytes written; says the peer is a loopback client."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.answers = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def close(self) -> None:
        return None


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b"Hello, async world!"
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def load(name: str) -> Any:
    if name == "bare":
        return bare
    if name == "fastapi":
        sys.path.insert(0, str(ROOT / "bench" / "peers"))
        from fastapi_peer import app  # type: ignore[import-not-found]

        return app
    os.environ.update(
        {
            "DJANGO_DEBUG": "0",
            "HELLO_ASYNC_TIME_SCALE": "0",
            "HELLO_ASYNC_LOG_LEVEL": "WARNING",
            "HELLO_ASYNC_LAB": "1",
            # The loop monitor's watchdog works by the wall clock, which a profiler stretches:
            # off, so that what is counted is the requests' work alone.
            "HELLO_ASYNC_LOOP_STALL_MS": "0",
        }
    )
    from hello_async.asgi import application

    return application


async def measure(name: str, requests: int, connections: int = 1) -> dict[str, float]:
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    config = Config(load(name), http="httptools", access_log=False, log_level="warning")
    config.load()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    state = ServerState()
    loop = asyncio.get_running_loop()
    pairs = []
    for _ in range(connections):
        protocol = HttpToolsProtocol(config, state, lifespan.state, loop)
        transport = Transport()
        protocol.connection_made(transport)
        pairs.append((protocol, transport))

    async def serve(count: int) -> None:
        # ``connections`` keep-alive connections, a request on each at once, then the next round:
        # as many requests in flight as connections, as under a load generator.
        for _ in range(count // connections):
            for protocol, _transport in pairs:
                protocol.data_received(REQUEST)
            while state.tasks:
                await asyncio.gather(*state.tasks)

    def written() -> int:
        return sum(transport.written for _protocol, transport in pairs)

    await serve(300)  # warm: imports, caches, the first requests' one-off work
    before = written()
    cpu, wall = time.thread_time(), time.perf_counter()
    await serve(requests)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    answer = (written() - before) / requests
    await lifespan.shutdown()
    return {"cpu_us": cpu / requests * 1e6, "wall_us": wall / requests * 1e6, "bytes": answer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hello_cost.py")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one", choices=APPS, help="measure one application once (a round)")
    parser.add_argument(
        "--connections", type=int, default=1, help="requests in flight at once (default 1)"
    )
    args = parser.parse_args(argv)
    if args.one:
        import uvloop

        print(json.dumps(uvloop.run(measure(args.one, args.requests, args.connections))))
        return 0
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for name in APPS:
            done = subprocess.run(
                [
                    *(sys.executable, __file__, "--one", name),
                    *("--requests", str(args.requests), "--connections", str(args.connections)),
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if name not in best or result["cpu_us"] < best[name]["cpu_us"]:
                best[name] = result
    for name in APPS:
        r = best[name]
        print(
            f"{name:8} {r['cpu_us']:7.1f} us CPU a request (wall {r['wall_us']:.1f} us), "
            f"{r['bytes']:.0f} bytes an answer"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
