"""What the bench compares: servers, variants and scenarios, as data.

Every scenario names two or more variants measured side by side in one run against the same
delay upstream at the same concurrency, and the pair whose ratio answers the article's claim.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Metric = Literal["rps", "p50_ms", "p99_ms"]

UVICORN_FLAGS = ["--no-access-log", "--loop", "uvloop", "--http", "httptools"]
UVICORN_FLAGS += ["--log-level", "warning", "--host", "127.0.0.1"]


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server under test; ``{port}`` in ``argv`` is filled in at start."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, port: int) -> list[str]:
        return [arg.replace("{port}", str(port)) for arg in self.argv]


def django_env(concurrency: int, fan_out: int) -> dict[str, str]:
    """Production-like settings: DEBUG off, quiet logs, no demo waits, a pool sized for the
    load (every concurrent request may hold ``fan_out`` upstream connections). The scenarios
    call ``/compare/...``: the lab switch is on whatever the environment says."""
    return {
        "DJANGO_SETTINGS_MODULE": "hello_async.settings",
        "DJANGO_DEBUG": "0",
        "HELLO_ASYNC_LAB": "1",
        "HELLO_ASYNC_TIME_SCALE": "0",
        "HELLO_ASYNC_LOG_LEVEL": "WARNING",
        "UPSTREAM_MAX_CONNECTIONS": str(max(100, concurrency * max(1, fan_out))),
    }


def uvicorn_django(concurrency: int, fan_out: int) -> ServerSpec:
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "uvicorn",
        "hello_async.asgi:application",
        "--port",
        "{port}",
    )
    return ServerSpec(
        "Uvicorn, 1 worker", (*argv, *UVICORN_FLAGS), django_env(concurrency, fan_out)
    )


def uvicorn_stock_django(concurrency: int, fan_out: int) -> ServerSpec:
    """The same project on Django's stock ASGI handler and middleware (bench/peers)."""
    argv: tuple[str, ...] = (sys.executable, "-m", "uvicorn", "stock_django:application")
    argv += ("--app-dir", "bench/peers", "--port", "{port}", *UVICORN_FLAGS)
    return ServerSpec("Uvicorn, 1 worker", argv, django_env(concurrency, fan_out))


def gunicorn_sync(concurrency: int) -> ServerSpec:
    # The Gunicorn docs' rule of thumb, 2 x CPUs + 1, for the one CPU the server gets.
    workers = 3
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "gunicorn",
        "hello_async.wsgi:application",
        "-k",
        "sync",
    )
    argv += ("-w", str(workers), "-b", "127.0.0.1:{port}", "--log-level", "warning")
    return ServerSpec(f"Gunicorn WSGI, {workers} sync workers", argv, django_env(concurrency, 1))


def gunicorn_gthread(concurrency: int) -> ServerSpec:
    workers = 2
    threads = math.ceil(concurrency / workers)  # sized so every client has a thread
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "gunicorn",
        "hello_async.wsgi:application",
        "-k",
        "gthread",
    )
    argv += ("-w", str(workers), "--threads", str(threads), "-b", "127.0.0.1:{port}")
    argv += ("--log-level", "warning")
    name = f"Gunicorn WSGI, gthread {workers} x {threads}"
    return ServerSpec(name, argv, django_env(concurrency, 1))


def fastapi_peer(concurrency: int) -> ServerSpec:
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "uvicorn",
        "fastapi_peer:app",
        "--app-dir",
        "bench/peers",
    )
    argv += ("--port", "{port}", *UVICORN_FLAGS)
    env = {"UPSTREAM_MAX_CONNECTIONS": str(max(100, 2 * concurrency))}
    return ServerSpec("Uvicorn, 1 worker", argv, env)


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    server: ServerSpec
    path: str
    latency_floor_ms: float = 0.0  # no answer can come sooner (the upstream waits it needs)
    # A request kept in flight, one after another, while the load runs (the burn scenario).
    background_path: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    claim: str
    concurrency: int
    fan_out: int  # concurrent upstream calls per request at most (sizes the upstream check)
    variants: tuple[Variant, ...]
    ratio: tuple[str, str]  # (numerator key, denominator key)
    ratio_metric: Metric = "rps"

    @property
    def upstream_concurrency(self) -> int:
        return self.concurrency * self.fan_out

    def variant(self, key: str) -> Variant:
        for variant in self.variants:
            if variant.key == key:
                return variant
        raise KeyError(key)


def build(*, quick: bool, delay_ms: float, block_ms: int) -> list[Scenario]:
    """Every scenario; ``quick`` makes them smaller (less concurrency)."""
    c = 20 if quick else 100
    per_call_c = 20
    d = delay_ms
    scenarios = [
        Scenario(
            "sync_vs_async",
            "sync vs async view, one upstream call",
            "An async view handles more concurrent I/O in one process than a sync one",
            c,
            1,
            (
                Variant(
                    "sync", "sync view, Uvicorn", uvicorn_django(c, 1), "/compare/sync_call/", d
                ),
                Variant(
                    "async", "async view, Uvicorn", uvicorn_django(c, 1), "/compare/async_call/", d
                ),
                Variant(
                    "gunicorn_sync",
                    "sync view, Gunicorn sync",
                    gunicorn_sync(c),
                    "/compare/sync_call/",
                    d,
                ),
                Variant(
                    "gunicorn_gthread",
                    "sync view, Gunicorn gthread",
                    gunicorn_gthread(c),
                    "/compare/sync_call/",
                    d,
                ),
            ),
            ("async", "sync"),
        ),
        Scenario(
            "client_per_call",
            "a new client per call vs one pooled client",
            "The article opens an httpx.AsyncClient per call; HTTPX recommends one long-lived one",
            # 20, not 100: at 100 the article's pattern answers nothing within a round at all
            # (every request waits on 200 clients being built), and a ratio needs two figures.
            per_call_c,
            2,
            (
                Variant(
                    "per_call",
                    "new client per call (article)",
                    uvicorn_django(per_call_c, 2),
                    "/compare/client_per_call/",
                    d,
                ),
                Variant(
                    "pooled",
                    "pooled client (ours)",
                    uvicorn_django(per_call_c, 2),
                    "/smoke_some_meats/",
                    d,
                ),
            ),
            ("pooled", "per_call"),
        ),
        Scenario(
            "gather",
            "two upstream calls: sequential vs gathered",
            "asyncio.gather cuts the latency to the longest branch",
            c,
            2,
            (
                Variant(
                    "sequential",
                    "awaited one after the other",
                    uvicorn_django(c, 2),
                    "/compare/sequential/",
                    2 * d,
                ),
                Variant(
                    "gathered", "asyncio.gather", uvicorn_django(c, 2), "/compare/gathered/", d
                ),
            ),
            ("gathered", "sequential"),
        ),
        Scenario(
            "blocking",
            f"requests to / while a {block_ms} ms call runs in an async view",
            "A blocking call in an async view stalls every request on the worker",
            10,
            0,
            (
                Variant(
                    "nonblock",
                    f"/ beside asyncio.sleep({block_ms / 1000:g})",
                    uvicorn_django(10, 1),
                    "/",
                    0.0,
                    f"/compare/nonblock/?ms={block_ms}",
                ),
                Variant(
                    "block",
                    f"/ beside time.sleep({block_ms / 1000:g})",
                    uvicorn_django(10, 1),
                    "/",
                    0.0,
                    f"/compare/block/?ms={block_ms}",
                ),
            ),
            ("block", "nonblock"),
            "p50_ms",
        ),
        Scenario(
            "peer",
            "our fan-out vs FastAPI's, two gathered upstream calls",
            "Django's async stack against a minimal async framework doing the same I/O",
            c,
            2,
            (
                Variant(
                    "ours",
                    "Django /smoke_some_meats/",
                    uvicorn_django(c, 2),
                    "/smoke_some_meats/",
                    d,
                ),
                Variant("fastapi", "FastAPI peer", fastapi_peer(c), "/smoke_some_meats/", d),
                *(
                    ()
                    if quick
                    else (
                        Variant(
                            "stock",
                            "stock Django handler",
                            uvicorn_stock_django(c, 2),
                            "/smoke_some_meats/",
                            d,
                        ),
                    )
                ),
            ),
            ("ours", "fastapi"),
        ),
    ]
    if not quick:
        big = 1000
        scenarios.append(
            Scenario(
                "peer_c1000",
                "our fan-out vs FastAPI's at 1000 concurrent",
                "The same comparison under ten times the load",
                big,
                2,
                (
                    Variant(
                        "ours",
                        "Django /smoke_some_meats/",
                        uvicorn_django(big, 2),
                        "/smoke_some_meats/",
                        d,
                    ),
                    Variant("fastapi", "FastAPI peer", fastapi_peer(big), "/smoke_some_meats/", d),
                    Variant(
                        "stock",
                        "stock Django handler",
                        uvicorn_stock_django(big, 2),
                        "/smoke_some_meats/",
                        d,
                    ),
                ),
                ("ours", "fastapi"),
            )
        )
        hello_c = 64
        scenarios.append(
            Scenario(
                "peer_hello",
                "'Hello' (no I/O) vs FastAPI's, 64 concurrent",
                "What the framework itself costs per request, with nothing to wait for",
                hello_c,
                0,
                (
                    Variant("ours", "Django /", uvicorn_django(hello_c, 0), "/"),
                    Variant("fastapi", "FastAPI peer /", fastapi_peer(hello_c), "/"),
                    Variant(
                        "stock", "stock Django handler /", uvicorn_stock_django(hello_c, 0), "/"
                    ),
                ),
                ("ours", "fastapi"),
            )
        )
    return scenarios


QUICK_SCENARIOS = ("gather", "blocking", "peer")
