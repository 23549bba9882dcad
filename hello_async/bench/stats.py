"""Statistics of load runs: percentiles, one measurement, rounds aggregated, ratios, floors."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    Matches numpy's default ("linear"); an empty sequence has no percentile (NaN).
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class LoadResult:
    """What one load run saw: counts, seconds, and latency percentiles in milliseconds."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    events: int = 0  # event streams: the events read (the requests are the streams)
    max_ms: float = math.nan  # the slowest request answered (NaN: the generator did not say)

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        if self.seconds <= 0:
            return 0.0
        return max(0, self.requests - self.errors) / self.seconds

    @classmethod
    def from_latencies(
        cls, latencies_ms: Sequence[float], *, errors: int, seconds: float
    ) -> LoadResult:
        """``latencies_ms`` of every completed request (errors included in the count)."""
        return cls(
            requests=len(latencies_ms),
            errors=errors,
            seconds=seconds,
            p50_ms=percentile(latencies_ms, 50),
            p99_ms=percentile(latencies_ms, 99),
            max_ms=max(latencies_ms, default=math.nan),
        )


@dataclass(frozen=True)
class Round:
    """One measured round of one variant: the load result and what the server held."""

    load: LoadResult
    peak_rss_mb: float
    peak_threads: int
    idle_rss_mb: float = 0.0  # once started, before any load

    @property
    def events_per_s(self) -> float:
        return self.load.events / self.load.seconds if self.load.seconds > 0 else 0.0

    def as_json(self) -> dict[str, float | int]:
        return {
            **asdict(self.load),
            "rps": round(self.load.rps, 1),
            "events_per_s": round(self.events_per_s, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "idle_rss_mb": round(self.idle_rss_mb, 1),
            "peak_threads": self.peak_threads,
        }


@dataclass(frozen=True)
class Summary:
    """Rounds of one variant, aggregated: the median round for rates and latencies (robust to
    one disturbed round on a shared machine), the sum for errors, the peak for resources and
    for the slowest request."""

    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    peak_rss_mb: float
    peak_threads: int
    rounds: list[Round] = field(default_factory=list)
    events_per_s: float = 0.0
    rss_grown_mb: float = 0.0  # what the load added to the server's memory (median round)
    max_ms: float = math.nan  # the slowest request of every round: a tail, not a median


def _slowest(values: Sequence[float]) -> float:
    known = [v for v in values if not math.isnan(v)]
    return max(known) if known else math.nan


def summarize(rounds: Sequence[Round]) -> Summary:
    if not rounds:
        raise ValueError("no rounds to summarize")
    rates = [r.load.rps for r in rounds]
    return Summary(
        rps=statistics.median(rates),
        rps_min=min(rates),
        rps_max=max(rates),
        p50_ms=statistics.median(r.load.p50_ms for r in rounds),
        p99_ms=statistics.median(r.load.p99_ms for r in rounds),
        requests=sum(r.load.requests for r in rounds),
        errors=sum(r.load.errors for r in rounds),
        peak_rss_mb=max(r.peak_rss_mb for r in rounds),
        peak_threads=max(r.peak_threads for r in rounds),
        rounds=list(rounds),
        events_per_s=statistics.median(r.events_per_s for r in rounds),
        rss_grown_mb=statistics.median(r.peak_rss_mb - r.idle_rss_mb for r in rounds),
        max_ms=_slowest([r.load.max_ms for r in rounds]),
    )


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN when the denominator is zero (nothing to compare)."""
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


def floor_rps(concurrency: int, latency_floor_ms: float) -> float:
    """The most requests/s ``concurrency`` clients can get when no answer can come sooner than
    ``latency_floor_ms`` (N / floor); infinite when there is no floor."""
    if latency_floor_ms <= 0:
        return math.inf
    return concurrency / (latency_floor_ms / 1000)


def fraction_of_floor(rps: float, concurrency: int, latency_floor_ms: float) -> float:
    """How close ``rps`` comes to the floor's bound (1.0 = as fast as the waits allow)."""
    bound = floor_rps(concurrency, latency_floor_ms)
    if math.isinf(bound):
        return math.nan
    return rps / bound
