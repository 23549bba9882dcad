"""The scenarios that take our own server apart, run only when named or beside the claims: each
fork turned off alone, what the article's console costs, and the tail at 1000 concurrent."""

from __future__ import annotations

from pathlib import Path

from hello_async.bench.model import Scenario, Variant
from hello_async.bench.servers import (
    ACCEPT_ALL,
    bolt_peer,
    fastapi_peer,
    uvicorn_django,
    uvicorn_stock_django,
    with_loop,
)
from hello_async.fastpath import FORKS


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
    """The tail at 1000 concurrent: the same fan-out on the loop the project ships
    (hello_async.fastpath.accept: every waiting connection accepted at once), on uvloop as
    Uvicorn gives it, and on asyncio's loop, ours and FastAPI's, beside django-bolt
    (docs/performance.md, the tail)."""
    c, path = 1000, "/smoke_some_meats/"
    ours, peer = uvicorn_django(c, 2), fastapi_peer(c)
    return Scenario(
        "tail_c1000",
        "the tail at 1000 concurrent: how the server accepts",
        "Accepting every waiting connection at once takes the seconds off the p99",
        c,
        2,
        (
            Variant("ours", "Django, accept all (shipped)", ours, path, delay_ms),
            Variant("ours_uvloop", "Django, uvloop", with_loop(ours, "uvloop"), path, delay_ms),
            Variant(
                "ours_asyncio", "Django, asyncio loop", with_loop(ours, "asyncio"), path, delay_ms
            ),
            Variant("fastapi", "FastAPI, uvloop", peer, path, delay_ms),
            Variant(
                "fastapi_accept",
                "FastAPI, accept all",
                with_loop(peer, ACCEPT_ALL),
                path,
                delay_ms,
            ),
            Variant("bolt", "django-bolt", bolt_peer(c), path, delay_ms),
        ),
        ("ours_uvloop", "ours"),
        ratio_metric="p99_ms",
        on_demand=True,
        also=(("fastapi", "fastapi_accept"), ("ours", "bolt"), ("ours_asyncio", "bolt")),
    )
