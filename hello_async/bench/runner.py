"""Running scenarios: a fresh server per measurement, warm-up, then measured rounds A B A B.

The delay upstream runs for the whole bench; before each scenario it is measured alone at the
scenario's upstream concurrency, so the report shows it was not the bottleneck.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hello_async.bench.loadgen import LoadGenerator
from hello_async.bench.model import Scenario, Variant
from hello_async.bench.processes import (
    ROOT,
    Child,
    CpuPlan,
    Monitor,
    free_port,
    tree_rss_mb,
    wait_http_ready,
)
from hello_async.bench.sseload import SseLoadGenerator
from hello_async.bench.stats import LoadResult, Round, Summary, summarize


@dataclass(frozen=True)
class Timing:
    warmup: float
    seconds: float
    rounds: int


@dataclass
class VariantResult:
    variant: Variant
    summary: Summary


@dataclass
class ScenarioResult:
    scenario: Scenario
    upstream: LoadResult | None
    variants: list[VariantResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # a scenario's own figures (fleet)


Step = Callable[[str], None]


def _ignore(description: str) -> None:
    return None


def drain(url: str, *, limit: float) -> None:
    """One GET to ``url``: it is answered once the requests queued before it are (or ``limit``
    seconds pass)."""
    with contextlib.suppress(httpx.HTTPError), httpx.Client(timeout=limit, trust_env=False) as c:
        c.get(url)


class Background:
    """Keeps one request to ``url`` in flight at a time until stopped (the burn scenario)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-background", daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30.0, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    ok = client.get(self.url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.sent += 1
                self.failed += not ok

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=35)


@dataclass
class Runner:
    plan: CpuPlan
    load: LoadGenerator
    timing: Timing
    upstream_url: str
    logs: Path
    on_step: Step = _ignore  # a measurement starts (its description)
    on_done: Step = _ignore  # a measurement ended (the same description)
    _upstream_cache: dict[int, LoadResult] = field(default_factory=dict)

    def run_load(
        self, url: str, concurrency: int, seconds: float, *, streams: bool = False
    ) -> LoadResult:
        load = SseLoadGenerator() if streams else self.load
        return load.run(
            url, concurrency=concurrency, seconds=seconds, prefix=self.plan.prefix(self.plan.load)
        )

    def measure_upstream(self, concurrency: int) -> LoadResult:
        if concurrency not in self._upstream_cache:
            step = f"upstream alone, c={concurrency}"
            self.on_step(step)
            self._upstream_cache[concurrency] = self.run_load(
                f"{self.upstream_url}/", concurrency, self.timing.seconds
            )
            self.on_done(step)
        return self._upstream_cache[concurrency]

    def measure(self, scenario: Scenario, variant: Variant, round_no: int) -> Round:
        """One measurement on a freshly started server."""
        port = free_port()
        env = {**variant.server.env, "UPSTREAM_URL": self.upstream_url}
        argv = [*self.plan.prefix(self.plan.server), *variant.server.command(port)]
        log = self.logs / f"{scenario.name}-{variant.key}-{round_no}.log"
        server = Child(variant.label, argv, env=env, log=log, cwd=variant.server.cwd or ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http_ready(server, f"{base}/")
            idle_rss_mb = tree_rss_mb(server.pid)  # before any load: what the load adds
            url = f"{base}{variant.path}"
            background = Background(f"{base}{variant.background_path}")
            with background if variant.background_path else contextlib.nullcontext():
                step = f"{scenario.name}: {variant.label}, round {round_no}"
                self.on_step(step)
                streams = scenario.load == "sse"
                concurrency = variant.concurrency or scenario.concurrency
                if self.timing.warmup > 0:
                    self.run_load(url, concurrency, self.timing.warmup, streams=streams)
                    # The warm-up's last requests may still be queued in the server (Gunicorn's
                    # sync workers serve them even though wrk has gone): let the queue drain, so
                    # the measured round starts from the same state for every server.
                    drain(f"{base}/", limit=self.timing.seconds * 2)
                with Monitor(server.pid) as monitor:
                    result = self.run_load(url, concurrency, self.timing.seconds, streams=streams)
            if not server.alive():
                raise RuntimeError(f"{variant.label} died under load:\n{server.output_tail()}")
            if background.failed:
                raise RuntimeError(
                    f"{background.failed} of {background.sent} background requests to "
                    f"{background.url} failed (log: {log})"
                )
        finally:
            server.stop()
        self.on_done(step)
        return Round(result, monitor.peak_rss_mb, monitor.peak_threads, idle_rss_mb)

    def run(self, scenario: Scenario) -> ScenarioResult:
        upstream = (
            self.measure_upstream(scenario.upstream_concurrency) if scenario.fan_out else None
        )
        rounds: dict[str, list[Round]] = {v.key: [] for v in scenario.variants}
        for round_no in range(1, self.timing.rounds + 1):
            for variant in scenario.variants:  # A B A B: the order repeats each round
                rounds[variant.key].append(self.measure(scenario, variant, round_no))
        result = ScenarioResult(scenario, upstream)
        for variant in scenario.variants:
            result.variants.append(VariantResult(variant, summarize(rounds[variant.key])))
        return result
