"""The bench's data: a variant (one server, one path) and a scenario (variants side by side)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hello_async.bench.servers import ServerSpec

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
