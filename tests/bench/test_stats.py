from __future__ import annotations

import math

import pytest

from hello_async.bench.loadgen import LoadError, parse_builtin, parse_wrk
from hello_async.bench.stats import (
    LoadResult,
    Round,
    floor_rps,
    fraction_of_floor,
    percentile,
    ratio,
    summarize,
)

WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:8000/compare/gathered/
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   104.21ms    3.10ms   1.50s   90.00%
    Req/Sec   960.00     20.00     1.00k    80.00%
  Latency Distribution
     50%  103.50ms
     75%  105.00ms
     90%  107.00ms
     99%    1.20s
  7680 requests in 8.00s, 1.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:    960.00
Transfer/sec:    140.00KB
"""


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10
    assert percentile(values, 100) == 40
    assert percentile(values, 50) == 25
    assert percentile(values, 99) == pytest.approx(39.7)


def test_percentile_ignores_input_order() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 50))


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_load_result_rps_counts_successes_only() -> None:
    result = LoadResult(requests=110, errors=10, seconds=2.0, p50_ms=1.0, p99_ms=2.0)
    assert result.rps == 50


def test_load_result_from_latencies() -> None:
    result = LoadResult.from_latencies([float(i) for i in range(1, 101)], errors=0, seconds=4.0)
    assert result.requests == 100
    assert result.rps == 25
    assert result.p50_ms == pytest.approx(50.5)
    assert result.p99_ms == pytest.approx(99.01)
    assert result.max_ms == 100


def _round(rps: float, p50: float, errors: int = 0, rss: float = 50, threads: int = 3) -> Round:
    load = LoadResult(
        requests=int(rps * 10) + errors, errors=errors, seconds=10, p50_ms=p50, p99_ms=p50 * 2
    )
    return Round(load, peak_rss_mb=rss, peak_threads=threads)


def test_summarize_takes_the_median_round_and_the_peaks() -> None:
    summary = summarize(
        [_round(100, 10, rss=60, threads=5), _round(300, 30, errors=1), _round(200, 20, rss=70)]
    )
    assert summary.rps == 200
    assert (summary.rps_min, summary.rps_max) == (100, 300)
    assert summary.p50_ms == 20
    assert summary.p99_ms == 40
    assert summary.errors == 1
    assert summary.requests == 1000 + 3000 + 2000 + 1
    assert summary.peak_rss_mb == 70
    assert summary.peak_threads == 5
    assert len(summary.rounds) == 3


def test_summarize_two_rounds_averages_the_middle() -> None:
    assert summarize([_round(100, 10), _round(200, 20)]).rps == 150


def test_summarize_needs_a_round() -> None:
    with pytest.raises(ValueError):
        summarize([])


def test_ratio_and_its_zero_denominator() -> None:
    assert ratio(300, 100) == 3
    assert math.isnan(ratio(1, 0))


def test_floor_bounds_rps_by_concurrency_over_latency() -> None:
    assert floor_rps(100, 100) == 1000
    assert floor_rps(100, 200) == 500
    assert math.isinf(floor_rps(10, 0))
    assert fraction_of_floor(800, 100, 100) == pytest.approx(0.8)
    assert math.isnan(fraction_of_floor(800, 100, 0))


def test_parse_wrk_reads_counts_percentiles_and_errors() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests == 7680
    assert result.seconds == 8
    assert result.p50_ms == 103.5
    assert result.p99_ms == 1200
    assert result.max_ms == 1500
    assert result.errors == 2 + 3 + 5
    assert result.rps == pytest.approx((7680 - 10) / 8)


def test_parse_wrk_without_errors_or_in_microseconds() -> None:
    output = WRK_OUTPUT.replace("103.50ms", "950.00us").replace("1.20s", "2.00ms")
    output = "\n".join(
        line for line in output.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    result = parse_wrk(output)
    assert result.errors == 0
    assert result.p50_ms == pytest.approx(0.95)
    assert result.p99_ms == 2


def test_parse_wrk_rejects_garbage() -> None:
    with pytest.raises(LoadError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_parse_builtin_reads_the_last_json_line() -> None:
    line = '{"requests": 10, "errors": 0, "seconds": 1.0, "p50_ms": 5.0, "p99_ms": 9.0}'
    assert parse_builtin(f"noise\n{line}\n").rps == 10
    with pytest.raises(LoadError):
        parse_builtin("")


def test_parse_wrk_with_no_answers_has_no_latency() -> None:
    output = WRK_OUTPUT.replace("7680 requests", "0 requests").replace("1.20s", "0.00us")
    result = parse_wrk(output)
    assert result.requests == 0
    assert result.rps == 0
    assert math.isnan(result.p50_ms)
    assert math.isnan(result.p99_ms)
    assert math.isnan(result.max_ms)


def test_summarize_takes_the_median_event_rate_and_memory_growth() -> None:
    def streams(events: int, idle: float, peak: float) -> Round:
        load = LoadResult(requests=10, errors=0, seconds=10, p50_ms=5, p99_ms=9, events=events)
        return Round(load, peak_rss_mb=peak, peak_threads=3, idle_rss_mb=idle)

    summary = summarize([streams(1000, 50, 60), streams(3000, 50, 90), streams(2000, 40, 70)])
    assert summary.events_per_s == 200
    assert summary.rss_grown_mb == 30


def test_parse_wrk_reads_the_slowest_request_in_any_unit() -> None:
    output = WRK_OUTPUT.replace("   1.50s   90.00%", " 950.00us   90.00%")
    assert parse_wrk(output).max_ms == pytest.approx(0.95)
    without = "\n".join(line for line in WRK_OUTPUT.splitlines() if "Latency  " not in line)
    assert math.isnan(parse_wrk(without).max_ms)


def test_summarize_keeps_the_slowest_request_of_every_round() -> None:
    def slowest(max_ms: float) -> Round:
        load = LoadResult(requests=10, errors=0, seconds=1, p50_ms=5, p99_ms=9, max_ms=max_ms)
        return Round(load, peak_rss_mb=50, peak_threads=3)

    # Not the median round's: the tail a user meets is the worst one.
    assert summarize([slowest(300), slowest(7900), slowest(400)]).max_ms == 7900
    assert summarize([slowest(math.nan), slowest(400)]).max_ms == 400
    assert math.isnan(summarize([slowest(math.nan)]).max_ms)
