"""The fleet row's clients: board streams and consoles held on two hosts, every event timed.

* **Boards**: N streams of ``/smoke_orders/board/events/``, alternately on each host; once
  every one has its first ``board``, orders are queued one at a time (alternately on each host)
  and each stream's ``order`` events RUNNING and SUCCESSFUL are timed against the order row's
  own ``started_at`` and ``finished_at`` (the moment the worker made the transition).
* **Consoles**: visitors open ``/console/`` (the cookie and token), their streams alternately on
  each host; then every request of ``/smoke_some_meats/`` is sent at once, each visitor's
  alternately to both hosts with ``X-Console-Session``. A ``line``'s latency is its arrival less
  (the moment the request was sent + the line's ``t``, the server's time since the request
  arrived): an upper bound, as it includes the request's way to the server and its wait to be
  read there. A lower bound beside it starts from the answer's arrival less the answer's ``t``.

Plain asyncio sockets for the streams and the timed requests, so a thousand streams stay light
on the load CPU. Arrivals are wall-clock times (``time.time()``): the servers stamp the rows
with theirs, on the same machine.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from hello_async.bench.stats import percentile

REQUESTS_PER_CONSOLE = 5  # 5 x 24 events at once stay well inside a stream's queue (256)
TIMEOUT = 30.0  # seconds to wait for a stream to open, or for every arrival of one step

Seen = tuple[str, Any, float]  # an event's name, its data (JSON decoded), its arrival time


def latency(values_ms: Sequence[float]) -> dict[str, float | None]:
    def shown(value: float) -> float | None:
        return None if math.isnan(value) else round(value, 1)

    return {
        "min_ms": shown(min(values_ms)) if values_ms else None,
        "p50_ms": shown(percentile(values_ms, 50)),
        "p99_ms": shown(percentile(values_ms, 99)),
        "max_ms": shown(max(values_ms)) if values_ms else None,
    }


def _decode(block: bytes) -> tuple[str, Any] | None:
    """One SSE block as (event name, data); None for a comment or a retry hint alone."""
    name, data = "message", []
    for line in block.decode().split("\n"):
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
    if not data:
        return None
    text = "\n".join(data)
    try:
        return name, json.loads(text)
    except ValueError:
        return name, text


async def read_events(
    url: str, target: str, on_event: Callable[[str, Any, float], None], *, cookie: str = ""
) -> None:
    """GET ``target`` as an event stream and hand each event to ``on_event`` as it arrives;
    returns when the stream ends, raises when it is refused."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    try:
        extra = f"Cookie: {cookie}\r\n" if cookie else ""
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        chunked = b"transfer-encoding: chunked" in head.lower()
        pending = b""
        while True:
            if chunked:  # Uvicorn's framing: <hex size>\r\n<bytes>\r\n, 0 at the end
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    return
                chunk = (await reader.readexactly(size + 2))[:-2]
            elif not (chunk := await reader.read(65536)):
                return
            now = time.time()
            pending += chunk
            while b"\n\n" in pending:
                block, pending = pending.split(b"\n\n", 1)
                if (event := _decode(block)) is not None:
                    on_event(*event, now)
    finally:
        writer.close()


class Feeds:
    """Streams read concurrently, with running counts (so that waiting costs the readers
    nothing): ``having[name]`` streams have had an event ``name``; ``counts`` the events by
    name, the ``order`` events by ``<id>:<status>``."""

    def __init__(self) -> None:
        self.seen: list[list[Seen]] = []
        self.refused: list[str] = []
        self.having: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    def open(self, url: str, target: str, *, cookie: str = "") -> list[Seen]:
        got: list[Seen] = []
        self.seen.append(got)
        names: set[str] = set()

        def on_event(name: str, data: Any, at: float) -> None:
            got.append((name, data, at))
            if name not in names:
                names.add(name)
                self.having[name] += 1
            if name == "order":
                self.counts[f"{data['id']}:{data['status']}"] += 1
            else:
                self.counts[name] += 1
            self._changed.set()

        async def run() -> None:
            try:
                await read_events(url, target, on_event, cookie=cookie)
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                self.refused.append(f"{url}{target}: {exc}")
                self._changed.set()

        self._tasks.append(asyncio.create_task(run()))
        return got

    async def wait(self, done: Callable[[], bool]) -> bool:
        """True once ``done()``; False when :data:`TIMEOUT` passes first (the result then says
        what is missing)."""
        deadline = time.monotonic() + TIMEOUT
        while not done():
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return done()
        return True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# --- boards -------------------------------------------------------------------------------------


@dataclass
class BoardResult:
    streams: int
    orders: int
    refused: int = 0
    complete_streams: int = 0  # streams that saw every order RUNNING and SUCCESSFUL
    running_ms: list[float] = field(default_factory=list)
    successful_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def expected(self) -> int:
        return self.streams * self.orders * 2

    @property
    def received(self) -> int:
        return len(self.running_ms) + len(self.successful_ms)

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": "transitions",
            "streams": self.streams,
            "orders": self.orders,
            "expected": self.expected,
            "received": self.received,
            "complete_streams": self.complete_streams,
            "refused": self.refused,
            "from": "the order row's started_at / finished_at",
            **latency([*self.running_ms, *self.successful_ms]),
            "running": latency(self.running_ms),
            "successful": latency(self.successful_ms),
        }


def _moment(value: Any) -> float:
    return datetime.fromisoformat(str(value)).timestamp()


async def aboards(hosts: Sequence[str], *, streams: int, orders: int) -> BoardResult:
    result = BoardResult(streams, orders)
    feeds = Feeds()
    target = "/smoke_orders/board/events/"
    for n in range(streams):
        feeds.open(hosts[n % len(hosts)], target)

    def answered() -> bool:  # every stream has its board, or was refused
        return feeds.having["board"] + len(feeds.refused) >= streams

    ids: list[str] = []
    started = time.monotonic()
    try:
        await feeds.wait(answered)
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as client:
            for n in range(orders):  # one at a time: each order's fan-out alone
                queued = await client.post(
                    f"{hosts[n % len(hosts)]}/smoke_orders/",
                    json={"meats": 1, "flavor": "Famous Dave's"},
                )
                queued.raise_for_status()
                order_id = queued.json()["id"]
                ids.append(order_id)
                done = f"{order_id}:SUCCESSFUL"

                def finished(done: str = done) -> bool:  # on every stream that opened
                    return feeds.counts[done] >= feeds.having["board"]

                await feeds.wait(finished)
    finally:
        result.seconds = time.monotonic() - started
        await feeds.close()
    result.refused = len(feeds.refused)
    for got in feeds.seen:
        complete = True
        for order_id in ids:
            seen = {
                d["status"]: (d, at)
                for name, d, at in got
                if name == "order" and d["id"] == order_id
            }
            if "RUNNING" in seen:
                order, at = seen["RUNNING"]
                result.running_ms.append((at - _moment(order["started_at"])) * 1000)
            if "SUCCESSFUL" in seen:
                order, at = seen["SUCCESSFUL"]
                result.successful_ms.append((at - _moment(order["finished_at"])) * 1000)
            complete = complete and {"RUNNING", "SUCCESSFUL"} <= set(seen)
        result.complete_streams += complete and bool(ids)
    return result


# --- consoles -----------------------------------------------------------------------------------


@dataclass
class ConsoleResult:
    requests: int
    consoles: int
    lines_per_request: int
    answered: int = 0  # requests answered 200
    responses: int = 0  # their `response` events on the consoles
    line_ms: list[float] = field(default_factory=list)
    # The same lines timed from the answer's side: its arrival less its own ``t`` is a moment
    # no earlier than the request's arrival on the server, so these are lower bounds.
    line_ms_from_answer: list[float] = field(default_factory=list)
    refused: int = 0
    seconds: float = 0.0  # from sending the requests to the last line (or giving up)

    @property
    def expected(self) -> int:
        return self.requests * self.lines_per_request

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": "lines",
            "requests": self.requests,
            "consoles": self.consoles,
            "lines_per_request": self.lines_per_request,
            "expected": self.expected,
            "received": len(self.line_ms),
            "answered": self.answered,
            "responses": self.responses,
            "refused": self.refused,
            "from": "the request's start + the line's server t (an upper bound)",
            **latency(self.line_ms),
            "from_answer": latency(self.line_ms_from_answer),
        }


async def alines_per_request(url: str) -> int:
    """The lines one ``/smoke_some_meats/`` makes: the ``line`` events of one live stream, which
    carries the same run's records without the broker."""
    got: list[str] = []
    await read_events(url, "/smoke_some_meats/live/", lambda name, _d, _t: got.append(name))
    return got.count("line")


@dataclass(frozen=True)
class Sent:
    at: float  # the moment it was sent
    answered: float  # the moment the answer's head arrived
    status: int


async def _timed_get(url: str, path: str, headers: dict[str, str]) -> Sent:
    """GET on a connection of its own, timed."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sent = time.time()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{lines}Connection: close\r\n"
        writer.write(f"{request}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        answered = time.time()
        await reader.read()  # to the end: Connection: close
        return Sent(sent, answered, int(head.split(b" ", 2)[1]))
    finally:
        writer.close()


async def aconsoles(
    hosts: Sequence[str], *, requests: int, lines_per_request: int
) -> ConsoleResult:
    consoles = max(1, math.ceil(requests / REQUESTS_PER_CONSOLE))
    result = ConsoleResult(requests, consoles, lines_per_request)
    feeds = Feeds()
    visitors: list[tuple[str, str, list[Seen]]] = []  # token, cookie, its stream's events
    async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as client:
        for n in range(consoles):
            page = await client.get(f"{hosts[n % len(hosts)]}/console/")
            page.raise_for_status()
            token = page.text.split('data-session="', 1)[1].split('"', 1)[0]
            cookie = f"hello_async_console={page.cookies['hello_async_console']}"
            client.cookies.clear()
            got = feeds.open(
                hosts[n % len(hosts)], f"/console/events/?session={token}", cookie=cookie
            )
            visitors.append((token, cookie, got))
    try:

        def ready() -> bool:
            return feeds.having["ready"] + len(feeds.refused) >= consoles

        await feeds.wait(ready)

        async def send(n: int) -> Sent:
            token, cookie, _ = visitors[n % consoles]
            host = hosts[(n // consoles) % len(hosts)]  # each visitor's alternately on both
            headers = {
                "X-Console-Session": token,
                "X-Console-Request": f"r{n}",
                "Cookie": cookie,
            }
            return await _timed_get(host, "/smoke_some_meats/", headers)

        started = time.monotonic()
        sent = await asyncio.gather(*(send(n) for n in range(requests)))
        result.answered = sum(one.status == 200 for one in sent)

        def delivered() -> bool:  # each request's lines, and its answer told
            return feeds.counts["line"] >= result.expected and feeds.counts["response"] >= requests

        await feeds.wait(delivered)
        result.seconds = time.monotonic() - started
    finally:
        await feeds.close()
    result.refused = len(feeds.refused)
    for *_, got in visitors:
        client_of = {d["request"]: d["client"] for name, d, _ in got if name == "request"}
        answer_t = {d["request"]: d["t"] for name, d, _ in got if name == "response"}
        result.responses += len(answer_t)
        for name, d, at in got:
            if name == "line" and d.get("request") in client_of:
                one = sent[int(client_of[d["request"]][1:])]
                result.line_ms.append((at - one.at - d["t"] / 1000) * 1000)
                if d["request"] in answer_t:
                    arrived = one.answered - answer_t[d["request"]] / 1000
                    result.line_ms_from_answer.append((at - arrived - d["t"] / 1000) * 1000)
    return result
