"""Where a request's time goes under load: each request's life, timed in the served process.

    uv run python scripts/request_timeline.py run --app ours [-c 1000] [--seconds 8]
    uv run python scripts/request_timeline.py run --app fastapi
    uv run python scripts/request_timeline.py report TIMELINE_JSON

``run`` starts the bench's delay upstream and wrk on the load CPU and this script's ``serve``
on the server CPU, as the bench does (docs/how-we-measure.md): a warm-up, then one measured
wrk run against a fresh server; then it prints the report. ``serve`` runs Uvicorn (uvloop,
httptools, one worker, no access log) on our application or the FastAPI peer, with timestamps
added around Uvicorn's protocol, the ASGI application and the upstream client; at exit it
writes one record per request. The instrumentation lives here only: the project's code is
untouched, and without this script nothing is timed.

The marks of one request, all ``time.monotonic()`` (one clock for every process):

* ``accepted``: its connection was accepted (``connection_made``);
* ``prev_written``: the answer before it on the same connection was written (wrk sends the
  next request as soon as it reads an answer: from here the request is on its way);
* ``read``: the loop read its bytes (``data_received``; the head is parsed in the same call);
* ``app``: the application's task took its first step;
* ``pool``: time spent waiting for a pooled upstream connection (ours: ``_acquire``);
* ``up_start`` / ``up_end``: the first upstream call began, the last ended;
* ``written``: the answer's last byte was handed to the transport.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Record = dict[str, Any]
_current: contextvars.ContextVar[Record | None] = contextvars.ContextVar("timeline", default=None)
_records: list[Record] = []
_last_written: dict[int, float] = {}  # connection (id of Uvicorn's protocol) -> time
_accepted: dict[int, float] = {}
_read_at: dict[int, float] = {}
_accepts: list[float] = []  # every connection_made


# --- the served process ----------------------------------------------------------------------


def _instrument_uvicorn() -> None:
    from uvicorn.protocols.http import httptools_impl

    protocol = httptools_impl.HttpToolsProtocol
    made, received, begin = (
        protocol.connection_made,
        protocol.data_received,
        protocol.on_message_begin,
    )

    def connection_made(self: Any, transport: Any) -> None:
        _accepted[id(self)] = now = time.monotonic()
        _accepts.append(now)
        _last_written.pop(id(self), None)  # a new connection may reuse a closed one's id
        made(self, transport)

    def data_received(self: Any, data: bytes) -> None:
        _read_at[id(self)] = time.monotonic()
        received(self, data)

    def on_message_begin(self: Any) -> None:
        begin(self)
        conn = id(self)
        record: Record = {"conn": conn, "read": _read_at.get(conn)}
        if conn in _last_written:
            record["prev_written"] = _last_written[conn]
        else:
            record["accepted"] = _accepted.get(conn)
        self.scope["timeline"] = record

    protocol.connection_made = connection_made  # type: ignore[method-assign]
    protocol.data_received = data_received  # type: ignore[method-assign]
    protocol.on_message_begin = on_message_begin  # type: ignore[method-assign]


def _instrument_ours() -> None:
    from hello_async.upstream.transport import Http11Transport

    handle, acquire = Http11Transport.handle_async_request, Http11Transport._acquire

    async def handle_async_request(self: Any, request: Any) -> Any:
        record = _current.get()
        if record is not None:
            record.setdefault("up_start", time.monotonic())
        try:
            return await handle(self, request)
        finally:
            if record is not None:
                record["up_end"] = time.monotonic()
                record["calls"] = record.get("calls", 0) + 1

    async def _acquire(self: Any, *args: Any) -> Any:
        started = time.monotonic()
        try:
            return await acquire(self, *args)
        finally:
            record = _current.get()
            if record is not None:
                record["pool"] = max(record.get("pool", 0.0), time.monotonic() - started)

    Http11Transport.handle_async_request = handle_async_request  # type: ignore[method-assign]
    Http11Transport._acquire = _acquire  # type: ignore[method-assign]


def _instrument_aiohttp() -> None:
    import aiohttp

    request = aiohttp.ClientSession._request

    async def _request(self: Any, *args: Any, **kwargs: Any) -> Any:
        record = _current.get()
        if record is not None:
            record.setdefault("up_start", time.monotonic())
        try:
            return await request(self, *args, **kwargs)
        finally:
            if record is not None:
                record["up_end"] = time.monotonic()  # the head is in; the body is tiny
                record["calls"] = record.get("calls", 0) + 1

    aiohttp.ClientSession._request = _request  # type: ignore[method-assign]


Scope = MutableMapping[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]


def timed(app: App) -> App:
    """The outermost ASGI wrapper: the task's first step, and the last byte of the answer."""

    async def wrapper(scope: Scope, receive: Any, send: Any) -> None:
        record = scope.get("timeline")
        if scope["type"] != "http" or record is None:
            await app(scope, receive, send)
            return
        record["app"] = time.monotonic()
        record["path"] = scope["path"]
        _current.set(record)

        async def timed_send(message: MutableMapping[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record["written"] = _last_written[record["conn"]] = time.monotonic()

        await app(scope, receive, timed_send)
        _records.append(record)

    return wrapper


# "accept": the loop the project ships (hello_async.fastpath.accept, settings.SERVER_LOOP).
LOOPS = {
    "uvloop": "uvloop",
    "asyncio": "asyncio",
    "accept": "hello_async.fastpath.accept:AcceptAllLoop",
}


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    _instrument_uvicorn()
    if args.app == "ours":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")
        from hello_async.asgi import application

        _instrument_ours()
        app: Any = application
    else:
        sys.path.insert(0, str(ROOT / "bench" / "peers"))
        _instrument_aiohttp()
        from fastapi_peer import app as peer  # type: ignore[import-not-found]

        app = peer
    config = uvicorn.Config(
        timed(app),
        host="127.0.0.1",
        port=args.port,
        loop=LOOPS[args.loop],
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )

    def dump(*_: object) -> None:
        for record in _records:
            record.pop("conn", None)
        Path(args.out).write_text(json.dumps({"requests": _records, "accepts": _accepts}))
        raise SystemExit(0)

    # Uvicorn handles SIGTERM, shuts down, then raises the signal again with the handler it
    # found: this one, so the records are written.
    signal.signal(signal.SIGTERM, dump)
    uvicorn.Server(config).run()
    dump()
    return 0


# --- the report ------------------------------------------------------------------------------

PHASES = [
    ("waiting to be read", "sent", "read"),
    ("  of which, to be accepted", "sent", "accepted"),
    ("read -> task's first step", "read", "app"),
    ("task -> first upstream call", "app", "up_start"),
    ("upstream calls (both)", "up_start", "up_end"),
    ("last call -> answer written", "up_end", "written"),
    ("whole (sent -> written)", "sent", "written"),
]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q / 100))]


def report(data: dict[str, Any], *, since: float = -math.inf, until: float = math.inf) -> str:
    """The phases' p50, p99 and max over the requests sent in [since, until], and where the
    slowest 1% spent their time. A connection's first request counts from ``since`` (wrk
    connects every connection and sends at once when it starts), so the time its connection
    waited to be accepted is in "waiting to be read"."""
    records: list[Record] = data["requests"]
    rows = []
    for r in records:
        first = r.get("prev_written") is None
        r["sent"] = (
            (since if since > -math.inf else r.get("accepted")) if first else r["prev_written"]
        )
        if r["sent"] is None or r.get("written") is None or not since <= r["sent"] <= until:
            continue
        if first and (r.get("accepted") or -math.inf) < since:
            continue  # a connection of the warm-up
        rows.append(r)
    if not rows:
        return "no request in the window"
    lines = [
        f"{len(rows)} requests; first requests on a new connection: "
        f"{sum('accepted' in r for r in rows)}"
    ]
    lines.append(f"{'phase (ms)':32} {'p50':>8} {'p99':>8} {'max':>8}   slowest 1%: mean")
    whole = sorted(rows, key=lambda r: r["written"] - r["sent"])
    tail = whole[-max(1, len(whole) // 100) :]
    for name, start, end in PHASES:
        spans = [(r[end] - r[start]) * 1000 for r in rows if start in r and end in r]
        in_tail = [(r[end] - r[start]) * 1000 for r in tail if start in r and end in r]
        mean = sum(in_tail) / len(in_tail) if in_tail else math.nan
        worst = max(spans, default=math.nan)
        lines.append(
            f"{name:32} {_pct(spans, 50):8.1f} {_pct(spans, 99):8.1f} {worst:8.1f}   {mean:8.1f}"
        )
    pools = [r["pool"] * 1000 for r in rows if "pool" in r]
    if pools:
        lines.append(
            f"{'pool wait (longest of a request)':32} {_pct(pools, 50):8.1f} "
            f"{_pct(pools, 99):8.1f} {max(pools):8.1f}"
        )
    accepts = sorted(t for t in data["accepts"] if since <= t <= until)
    if accepts and since > -math.inf:
        waits = [(t - since) * 1000 for t in accepts]
        lines.append(
            f"connections accepted after wrk started: {len(accepts)}; the accept came "
            f"{_pct(waits, 50):.0f} ms (p50), {_pct(waits, 99):.0f} ms (p99), "
            f"{max(waits):.0f} ms (last) after it"
        )
    firsts = [(r["written"] - r["sent"]) * 1000 for r in rows if "accepted" in r]
    if firsts:
        lines.append(
            f"first request of a connection: p50 {_pct(firsts, 50):.0f} ms, "
            f"max {max(firsts):.0f} ms"
        )
    return "\n".join(lines)


# --- the driver ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from hello_async.bench.cli import raise_open_files
    from hello_async.bench.processes import (
        Child,
        CpuPlan,
        free_port,
        start_delay_server,
        wait_http_ready,
    )
    from hello_async.bench.servers import django_env

    raise_open_files()
    plan = CpuPlan.detect()
    name = f"timeline-{args.app}-{args.loop}-c{args.concurrency}.json"
    out = Path(args.out or name).resolve()
    logs = out.parent
    delay, upstream = start_delay_server(plan, delay_ms=100, log=logs / "timeline-delay.log")
    port = free_port()
    env = {**django_env(args.concurrency, 2), "UPSTREAM_URL": upstream}
    env["UPSTREAM_MAX_CONNECTIONS"] = str(max(100, 2 * args.concurrency))
    argv = [*plan.prefix(plan.server), sys.executable, __file__, "serve", "--app", args.app]
    argv += ["--loop", args.loop]
    server = Child(
        args.app,
        [*argv, "--port", str(port), "--out", str(out)],
        env=env,
        log=logs / f"timeline-{args.app}-{args.loop}.log",
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/smoke_some_meats/"
    wrk = [
        *plan.prefix(plan.load),
        "wrk",
        "-t1",
        f"-c{args.concurrency}",
        "--latency",
        "--timeout=10s",
    ]
    try:
        wait_http_ready(server, f"http://127.0.0.1:{port}/")
        subprocess.run([*wrk, f"-d{args.warmup}s", url], capture_output=True, check=True)
        since = time.monotonic()
        done = subprocess.run(
            [*wrk, f"-d{args.seconds}s", url], capture_output=True, text=True, check=True
        )
        until = time.monotonic()
    finally:
        server.stop()
        delay.stop()
    print(done.stdout)
    print(report(json.loads(out.read_text()), since=since, until=until))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="request_timeline.py")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve")
    serving.add_argument("--app", choices=["ours", "fastapi"], default="ours")
    serving.add_argument("--port", type=int, default=8000)
    serving.add_argument("--out", default="timeline.json")
    serving.add_argument("--loop", choices=sorted(LOOPS), default="uvloop")
    running = commands.add_parser("run")
    running.add_argument("--app", choices=["ours", "fastapi"], default="ours")
    running.add_argument("-c", "--concurrency", type=int, default=1000)
    running.add_argument("--seconds", type=int, default=8)
    running.add_argument("--warmup", type=int, default=3)
    running.add_argument("--out")
    running.add_argument("--loop", choices=sorted(LOOPS), default="uvloop")
    reading = commands.add_parser("report")
    reading.add_argument("timeline")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "run":
        return run(args)
    print(report(json.loads(Path(args.timeline).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
