"""What the bench compares: servers, variants and scenarios, as data.

Every scenario names two or more variants measured side by side in one run against the same
delay upstream at the same concurrency, and the pair whose ratio answers the article's claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hello_async.bench.servers import (
    ServerSpec,
    bare_peer,
    bolt_peer,
    fastapi_peer,
    gunicorn_gthread,
    gunicorn_sync,
    live_env,
    sse_peer,
    uvicorn_django,
    uvicorn_stock_django,
    with_loop,
)
from hello_async.fastpath import FORKS

Metric = Literal["rps", "events_per_s", "p50_ms", "p99_ms"]


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    server: ServerSpec
    path: str
    latency_floor_ms: float = 0.0  # no answer can come sooner (the upstream waits it needs)
    # A request kept in flight, one after another, while the load runs (the burn scenario).
    background_path: str | None = None
    concurrency: int | None = None  # its own, not the scenario's (the fleet row's rows)


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
    on_demand: bool = False  # run only when named (--scenario), not in the full run
    reference: str | None = None  # each variant's req/s is also shown against this one's
    # "http": wrk (or the built-in generator); "sse": event streams read whole (bench.sseload),
    # the rates events/s, latencies to the first event; "fleet": bench.fleet runs it.
    load: Literal["http", "sse", "fleet"] = "http"
    # More (numerator, denominator) pairs on the same metric, shown under ``ratio``: ours
    # against each peer, not only the first.
    also: tuple[tuple[str, str], ...] = ()

    @property
    def ratios(self) -> tuple[tuple[str, str], ...]:
        """``ratio`` then ``also``, keeping the pairs whose two variants are in the scenario."""
        keys = {v.key for v in self.variants}
        return tuple(pair for pair in (self.ratio, *self.also) if set(pair) <= keys)

    @property
    def reference_key(self) -> str:
        return self.reference or self.ratio[1]

    @property
    def upstream_concurrency(self) -> int:
        return self.concurrency * self.fan_out

    def variant(self, key: str) -> Variant:
        for variant in self.variants:
            if variant.key == key:
                return variant
        raise KeyError(key)


# The peer rows' ratios beside ours / FastAPI: ours against django-bolt, and django-bolt against
# FastAPI (the bar the issue sets), and ours against the same server from --baseline.
PEER_RATIOS = (("ours", "bolt"), ("bolt", "fastapi"), ("ours", "before"))


def before(concurrency: int, fan_out: int, path: str, baseline: Path | None) -> tuple[Variant, ...]:
    """Our server from another checkout (``--baseline``), measured beside the current one."""
    if baseline is None:
        return ()
    server = uvicorn_django(concurrency, fan_out, cwd=baseline)
    return (Variant("before", f"Django {path}, {baseline.name}", server, path),)


def fork_scenarios(delay_ms: float) -> list[Scenario]:
    """Each fork of the fast path turned off alone, on the three peer rows (docs/performance.md).

    A fork earns its place when turning it off alone costs at least 5% on one row."""
    rows = [
        ("forks_hello", "'Hello' (no I/O), 64 concurrent", 64, 0, "/", 0.0),
        ("forks_fanout", "fan-out, 100 concurrent", 100, 2, "/smoke_some_meats/", delay_ms),
        ("forks_c1000", "fan-out, 1000 concurrent", 1000, 2, "/smoke_some_meats/", delay_ms),
    ]
    scenarios = []
    for name, title, c, fan_out, path, floor in rows:
        variants = [
            Variant("all", "fast path, every fork", uvicorn_django(c, fan_out), path, floor)
        ]
        for fork in FORKS:
            server = uvicorn_django(c, fan_out, env={"HELLO_ASYNC_FASTPATH_OFF": fork})
            variants.append(Variant(f"no_{fork}", f"without {fork}", server, path, floor))
        stock = uvicorn_stock_django(c, fan_out)
        variants.append(Variant("stock", "no fast path (stock Django)", stock, path, floor))
        scenarios.append(
            Scenario(
                name,
                f"the fast path's forks, one at a time: {title}",
                "Each fork buys at least 5% on one row when it alone is turned off",
                c,
                fan_out,
                tuple(variants),
                ("all", "stock"),
                on_demand=True,
                reference="all",
            )
        )
    return scenarios


def logging_before(baseline: Path | None, delay_ms: float) -> tuple[Variant, ...]:
    """The logging row's two servers from another checkout (``--baseline``)."""
    if baseline is None:
        return ()
    return tuple(
        Variant(
            f"{level}_before",
            f"Django at {level.upper()}, {baseline.name}",
            uvicorn_django(1000, 2, cwd=baseline, logging=level),
            "/smoke_some_meats/",
            delay_ms,
        )
        for level in ("info", "warning")
    )


def logging_scenarios(delay_ms: float, baseline: Path | None = None) -> list[Scenario]:
    """The peer rows as a user runs them: the article's lines at INFO and the access log on,
    on both sides (FastAPI logging the same lines through Python's logging); and what that
    costs our server against the same server at WARNING (and another checkout's, with
    ``baseline``)."""
    rows = [
        ("peer_info", "fan-out, 100 concurrent", 100, 2, "/smoke_some_meats/", delay_ms),
        ("peer_c1000_info", "fan-out, 1000 concurrent", 1000, 2, "/smoke_some_meats/", delay_ms),
        ("peer_hello_info", "'Hello', 64 concurrent", 64, 0, "/", 0.0),
    ]
    info = uvicorn_django(1000, 2, logging="info")
    quiet = uvicorn_django(1000, 2)
    scenarios = [
        Scenario(
            "logging",
            "what the article's console costs: INFO and access log vs WARNING, c=1000",
            "The article's lines at INFO cost little of the fan-out's throughput",
            1000,
            2,
            (
                Variant(
                    "info", "Django at INFO, access log on", info, "/smoke_some_meats/", delay_ms
                ),
                Variant("warning", "Django at WARNING", quiet, "/smoke_some_meats/", delay_ms),
                *logging_before(baseline, delay_ms),
            ),
            ("info", "warning"),
        )
    ]
    for name, title, c, fan_out, path, floor in rows:
        ours = uvicorn_django(c, fan_out, logging="info")
        peer = fastapi_peer(c, logging="info")
        scenarios.append(
            Scenario(
                name,
                f"ours vs FastAPI's, both logging the article's lines at INFO: {title}",
                "With the console on both sides, the same comparison",
                c,
                fan_out,
                (
                    Variant("ours", f"Django {path}, INFO", ours, path, floor),
                    Variant("fastapi", f"FastAPI peer {path}, INFO", peer, path, floor),
                ),
                ("ours", "fastapi"),
            )
        )
    return scenarios


def tail_scenario(delay_ms: float) -> Scenario:
    """The tail at 1000 concurrent: the same fan-out on uvloop as shipped, on a uvloop that
    accepts every waiting connection at once (``scripts/batch_accept.py``), and on asyncio's
    loop, ours and FastAPI's, beside django-bolt (docs/performance.md, the tail)."""
    c, path, batch = 1000, "/smoke_some_meats/", "batch_accept:BatchAcceptLoop"
    ours, peer = uvicorn_django(c, 2), fastapi_peer(c)
    return Scenario(
        "tail_c1000",
        "the tail at 1000 concurrent: how the server accepts",
        "Accepting every waiting connection at once takes the seconds off the p99",
        c,
        2,
        (
            Variant("ours", "Django, uvloop", ours, path, delay_ms),
            Variant("ours_batch", "Django, batch accept", with_loop(ours, batch), path, delay_ms),
            Variant(
                "ours_asyncio", "Django, asyncio loop", with_loop(ours, "asyncio"), path, delay_ms
            ),
            Variant("fastapi", "FastAPI, uvloop", peer, path, delay_ms),
            Variant(
                "fastapi_batch", "FastAPI, batch accept", with_loop(peer, batch), path, delay_ms
            ),
            Variant("bolt", "django-bolt", bolt_peer(c), path, delay_ms),
        ),
        ("ours", "ours_batch"),
        ratio_metric="p99_ms",
        on_demand=True,
        also=(("fastapi", "fastapi_batch"), ("ours_batch", "bolt"), ("ours_asyncio", "bolt")),
    )


def live_scenario(concurrency: int = 1000) -> Scenario:
    """Streams: each client reads /smoke_some_meats/live/ to its end (about 2 s, the article's
    waits: 23 events) and opens the next; ours against Starlette + sse-starlette."""
    path = "/smoke_some_meats/live/"
    ours = uvicorn_django(concurrency, 2, env=live_env(concurrency, 2))
    return Scenario(
        "live",
        f"{concurrency} concurrent event streams: ours vs Starlette + sse-starlette",
        "A Django streaming view keeps up with a streaming framework's, stream for stream",
        concurrency,
        2,
        (
            Variant("ours", f"Django {path}", ours, path),
            Variant("sse_starlette", f"sse-starlette peer {path}", sse_peer(concurrency, 2), path),
        ),
        ("ours", "sse_starlette"),
        ratio_metric="events_per_s",
        load="sse",
    )


def build(
    *, quick: bool, delay_ms: float, block_ms: int, baseline: Path | None = None
) -> list[Scenario]:
    """Every scenario; ``quick`` makes them smaller (less concurrency); ``baseline`` adds the
    same server from another checkout to the peer rows."""
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
                *before(c, 2, "/smoke_some_meats/", baseline),
                Variant("fastapi", "FastAPI peer", fastapi_peer(c), "/smoke_some_meats/", d),
                Variant("bolt", "django-bolt peer", bolt_peer(c), "/smoke_some_meats/", d),
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
            also=PEER_RATIOS,
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
                    *before(big, 2, "/smoke_some_meats/", baseline),
                    Variant("fastapi", "FastAPI peer", fastapi_peer(big), "/smoke_some_meats/", d),
                    Variant("bolt", "django-bolt peer", bolt_peer(big), "/smoke_some_meats/", d),
                    Variant(
                        "stock",
                        "stock Django handler",
                        uvicorn_stock_django(big, 2),
                        "/smoke_some_meats/",
                        d,
                    ),
                ),
                ("ours", "fastapi"),
                also=PEER_RATIOS,
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
                    *before(hello_c, 0, "/", baseline),
                    Variant("fastapi", "FastAPI peer /", fastapi_peer(hello_c), "/"),
                    Variant("bolt", "django-bolt peer /", bolt_peer(hello_c), "/"),
                    Variant("bare", "bare ASGI under Uvicorn /", bare_peer(), "/"),
                    Variant(
                        "stock", "stock Django handler /", uvicorn_stock_django(hello_c, 0), "/"
                    ),
                ),
                ("ours", "fastapi"),
                also=PEER_RATIOS,
            )
        )
    if not quick:
        scenarios += logging_scenarios(d, baseline)
        scenarios.append(live_scenario())
    scenarios += fork_scenarios(d)
    scenarios.append(tail_scenario(d))
    return scenarios


QUICK_SCENARIOS = ("gather", "blocking", "peer")
