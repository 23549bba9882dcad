"""The fleet row (``hello-async bench --scenario fleet``, on demand): two hosts on one broker.

The picture::

    CPU 1: bench ── board streams, consoles, orders (bench.fleetload) ──┐
           delay server (the upstream)                                  │ HTTP
    CPU 0: host A (Uvicorn) ─┐                                          │
           host B (Uvicorn) ─┼── Redis (REDIS_URL, or 127.0.0.1:6379) ◄──┘
           task worker ──────┴── PostgreSQL (a database of the run's own), else a SQLite file

Three measurements, in one run:

* **board**: N board streams spread over both hosts; each order's RUNNING and SUCCESSFUL must
  reach every one; latency from the order row's ``started_at`` / ``finished_at``.
* **console**: M console-followed ``/smoke_some_meats/`` at once, sent to both hosts; every line
  must reach its console; latency from the request's start plus the line's server ``t``.
* **fan-out with and without REDIS_URL**: the peer rows' server (c=100 and c=1000, no console
  open) measured A B A B by the runner, REDIS_URL unset and set: what the broker costs a request
  that does not use it. The scenario's ratio is that one, at c=100.

The hosts and the worker are started once for the first two; the fan-out servers are fresh
per measurement, as everywhere in the bench.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop

from hello_async.bench import fleetload
from hello_async.bench.model import Scenario, Variant
from hello_async.bench.processes import (
    ROOT,
    Child,
    Monitor,
    ServerError,
    free_port,
    tree_rss_mb,
    wait_http_ready,
)
from hello_async.bench.runner import Runner, ScenarioResult, VariantResult
from hello_async.bench.servers import uvicorn_django
from hello_async.bench.stats import LoadResult, Round, ratio, summarize

STREAMS = 1000
REQUESTS = 100
ORDERS = 5  # queued one after another, alternately on each host
FANOUT = (100, 1000)  # the peer rows' concurrency
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
HOSTS = 2


def scenario(delay_ms: float, *, streams: int = STREAMS, requests: int = REQUESTS) -> Scenario:
    # What each host runs; its fleet settings are added at start.
    host = dataclasses.replace(
        uvicorn_django(streams, 2), name=f"{HOSTS} x Uvicorn + a task worker"
    )
    redis = {"REDIS_URL": redis_url(), "HELLO_ASYNC_REDIS_PREFIX": "hello-bench-fanout:"}
    path = "/smoke_some_meats/"
    variants = [
        Variant(
            "board",
            f"board: {streams} streams on {HOSTS} hosts",
            host,
            "/smoke_orders/board/events/",
            concurrency=streams,
        ),
        Variant(
            "console",
            f"console: {requests} requests on {HOSTS} hosts",
            host,
            path,
            concurrency=requests,
        ),
    ]
    for c in FANOUT:
        suffix = "" if c == FANOUT[0] else f"_c{c}"
        variants += [
            Variant(
                f"plain{suffix}",
                f"fan-out c={c}, no REDIS_URL",
                uvicorn_django(c, 2),
                path,
                delay_ms,
                concurrency=c,
            ),
            Variant(
                f"redis{suffix}",
                f"fan-out c={c}, REDIS_URL set",
                uvicorn_django(c, 2, env=redis),
                path,
                delay_ms,
                concurrency=c,
            ),
        ]
    return Scenario(
        "fleet",
        f"a fleet: {HOSTS} hosts on one Redis and one database",
        "Every board and console line reaches every stream on every host; REDIS_URL costs the"
        " fan-out nothing when no console is open",
        max(FANOUT),
        2,
        tuple(variants),
        ("redis", "plain"),
        on_demand=True,
        reference="plain",
        load="fleet",
    )


def steps(scenario: Scenario, rounds: int) -> int:
    """Measurements the progress bar counts: the board and the console once, the fan-out's
    variants each round."""
    fleet_rows = {"board", "console"}
    return sum(1 if v.key in fleet_rows else rounds for v in scenario.variants)


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "").strip() or DEFAULT_REDIS


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        address = (parts.hostname or "127.0.0.1", parts.port or default_port)
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


# --- the database: PostgreSQL when reachable, else a SQLite file ----------------------------


def _postgres_server() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    url = url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2):
            return url
    except psycopg.Error:
        return None


@contextlib.contextmanager
def database(directory: Path) -> Iterator[tuple[str, str]]:
    """(DATABASE_URL, engine) of a database of this run's own, dropped afterwards."""
    server = _postgres_server()
    if server is None:
        path = directory / "fleet.sqlite3"
        path.unlink(missing_ok=True)
        yield f"sqlite:///{path}", "sqlite"
        return
    import psycopg
    from psycopg import sql

    name = sql.Identifier(f"hello_bench_fleet_{os.getpid()}")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield re.sub(r"/[^/]*$", f"/hello_bench_fleet_{os.getpid()}", server), "postgresql"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))


# --- the hosts and the task worker ------------------------------------------------------------


@dataclass
class Fleet:
    urls: list[str]
    hosts: list[Child]
    worker: Child


def _wait_line(child: Child, pattern: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, child.output_tail(200)):
            return
        if not child.alive():
            break
        time.sleep(0.1)
    raise ServerError(
        f"{child.name}: no line {pattern!r} (log: {child.log_path}):\n{child.output_tail()}"
    )


@contextlib.contextmanager
def started(runner: Runner, scenario: Scenario, env: dict[str, str]) -> Iterator[Fleet]:
    """Migrate the database, then two hosts and a task worker on the server's CPU."""
    prefix = runner.plan.prefix(runner.plan.server)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    if migrate.returncode != 0:
        raise ServerError(f"fleet: migrate failed:\n{migrate.stdout}{migrate.stderr}")
    children: list[Child] = []
    try:
        argv = [
            *prefix,
            sys.executable,
            "-m",
            "hello_async.cli",
            "worker",
            "--parent",
            str(os.getpid()),
        ]
        log = runner.logs / "fleet-worker.log"
        # At INFO: its "ready" line says it is listening (a few lines an order, no more).
        worker = Child("task worker", argv, env={**env, "HELLO_ASYNC_LOG_LEVEL": "INFO"}, log=log)
        children.append(worker)
        urls = []
        spec = scenario.variant("board").server
        for n in range(HOSTS):
            port = free_port()
            log = runner.logs / f"fleet-host-{n + 1}.log"
            host = Child(f"host {n + 1}", [*prefix, *spec.command(port)], env=env, log=log)
            children.append(host)
            urls.append(f"http://127.0.0.1:{port}")
            wait_http_ready(host, f"{urls[-1]}/")
        _wait_line(worker, r"Task worker \S+ ready")
        yield Fleet(urls, children[1:], worker)
    finally:
        for child in reversed(children):
            child.stop()


@contextlib.contextmanager
def monitored(fleet: Fleet) -> Iterator[list[Monitor]]:
    monitors = [Monitor(host.pid) for host in fleet.hosts]
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(m) for m in monitors]


def _summary(
    expected: int,
    received: int,
    seconds: float,
    values_ms: list[float],
    monitors: list[Monitor],
    idle_mb: float,
) -> Any:
    load = LoadResult.from_latencies(values_ms, errors=expected - received, seconds=seconds)
    load = dataclasses.replace(load, requests=expected, events=received)
    peak_mb = sum(m.peak_rss_mb for m in monitors)
    return summarize([Round(load, peak_mb, sum(m.peak_threads for m in monitors), idle_mb)])


def run(runner: Runner, scenario: Scenario) -> ScenarioResult:
    """The scenario's three measurements (the board and the console only when their variants
    are kept, as ``--variant`` may leave out the rest)."""
    keys = {v.key for v in scenario.variants}
    result = ScenarioResult(scenario, runner.measure_upstream(scenario.upstream_concurrency))
    details: dict[str, Any] = {"hosts": HOSTS, "redis_url": redis_url()}
    if {"board", "console"} & keys:
        _measure_fleet(runner, scenario, result, details)
    fanout = [v for v in scenario.variants if v.key not in ("board", "console")]
    rounds: dict[str, list[Round]] = {v.key: [] for v in fanout}
    for round_no in range(1, runner.timing.rounds + 1):
        for variant in fanout:
            http = dataclasses.replace(scenario, load="http")
            rounds[variant.key].append(runner.measure(http, variant, round_no))
    for variant in fanout:
        result.variants.append(VariantResult(variant, summarize(rounds[variant.key])))
    details["fanout"] = {}
    for key in rounds:
        if key.startswith("redis") and (plain := "plain" + key[5:]) in rounds:
            per_round = [
                ratio(r.load.rps, p.load.rps)
                for r, p in zip(rounds[key], rounds[plain], strict=True)
            ]
            details["fanout"][key] = {
                "concurrency": scenario.variant(key).concurrency,
                "ratio_median": round(statistics.median(per_round), 3),
                "ratio_rounds": [round(x, 3) for x in per_round],
            }
    result.details = details
    return result


def _measure_fleet(
    runner: Runner, scenario: Scenario, result: ScenarioResult, details: dict[str, Any]
) -> None:
    if not _reachable(redis_url(), 6379):
        raise ServerError(f"the fleet row needs Redis: none at {redis_url()} (set REDIS_URL)")
    board, console = scenario.variant("board"), scenario.variant("console")
    streams, requests = board.concurrency or STREAMS, console.concurrency or REQUESTS
    with database(runner.logs) as (database_url, engine):
        details["database"] = engine
        env = {
            **board.server.env,
            "UPSTREAM_URL": runner.upstream_url,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url(),
            "HELLO_ASYNC_REDIS_PREFIX": f"hello-bench-{secrets.token_hex(4)}:",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # one key: either host checks a cookie
            "HELLO_ASYNC_SSE_MAX_BOARDS": str(streams),
            "HELLO_ASYNC_SSE_MAX_CONSOLES": str(requests),
        }
        step = f"fleet: {HOSTS} hosts, {streams} board streams, {requests} console requests"
        runner.on_step(step)
        with started(runner, scenario, env) as fleet:
            idle_mb = sum(tree_rss_mb(host.pid) for host in fleet.hosts)
            with monitored(fleet) as monitors:
                boards = uvloop.run(fleetload.aboards(fleet.urls, streams=streams, orders=ORDERS))
            runner.on_done(step)
            step = f"fleet: {requests} console-followed {console.path} on {HOSTS} hosts"
            runner.on_step(step)
            per_request = uvloop.run(fleetload.alines_per_request(fleet.urls[0]))
            with monitored(fleet) as monitors_c:
                consoles = uvloop.run(
                    fleetload.aconsoles(
                        fleet.urls, requests=requests, lines_per_request=per_request
                    )
                )
            for host in fleet.hosts:
                if not host.alive():
                    raise ServerError(f"{host.name} died under load:\n{host.output_tail()}")
        runner.on_done(step)
    details["board"] = boards.as_json()
    details["console"] = consoles.as_json()
    result.variants.append(
        VariantResult(
            board,
            _summary(
                boards.expected,
                boards.received,
                boards.seconds,
                [*boards.running_ms, *boards.successful_ms],
                monitors,
                idle_mb,
            ),
        )
    )
    result.variants.append(
        VariantResult(
            console,
            _summary(
                consoles.expected,
                len(consoles.line_ms),
                consoles.seconds,
                consoles.line_ms,
                monitors_c,
                idle_mb,
            ),
        )
    )
