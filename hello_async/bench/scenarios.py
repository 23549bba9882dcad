"""What the bench compares: servers, variants and scenarios, as data.

Every scenario names two or more variants measured side by side in one run against the same
delay upstream at the same concurrency, and the pair whose ratio answers the article's claim.
"""

from __future__ import annotations

from pathlib import Path

from hello_async.bench.diagnostics import fork_scenarios, logging_scenarios, tail_scenario
from hello_async.bench.model import Scenario, Variant
from hello_async.bench.servers import (
    bare_peer,
    bolt_peer,
    fastapi_peer,
    gunicorn_gthread,
    gunicorn_sync,
    live_env,
    sse_peer,
    uvicorn_django,
    uvicorn_stock_django,
)

# The peer rows' ratios beside ours / FastAPI: ours against django-bolt, and django-bolt against
# FastAPI (the bar the issue sets), and ours against the same server from --baseline.
PEER_RATIOS = (("ours", "bolt"), ("bolt", "fastapi"), ("ours", "before"))


def before(concurrency: int, fan_out: int, path: str, baseline: Path | None) -> tuple[Variant, ...]:
    """Our server from another checkout (``--baseline``), measured beside the current one."""
    if baseline is None:
        return ()
    server = uvicorn_django(concurrency, fan_out, cwd=baseline)
    return (Variant("before", f"Django {path}, {baseline.name}", server, path),)


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
