"""The bench's aggregation into JSON, table and chart, from made-up rounds (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from hello_async.bench import charts, report
from hello_async.bench.runner import ScenarioResult, VariantResult
from hello_async.bench.scenarios import QUICK_SCENARIOS, build
from hello_async.bench.stats import LoadResult, Round, summarize


def _rounds(rps: float, p50: float) -> list[Round]:
    load = LoadResult(requests=int(rps * 8), errors=0, seconds=8, p50_ms=p50, p99_ms=p50 * 3)
    return [Round(load, peak_rss_mb=80, peak_threads=6)] * 2


def _gather_result() -> ScenarioResult:
    scenario = next(s for s in build(quick=True, delay_ms=100, block_ms=250) if s.name == "gather")
    upstream = LoadResult(requests=3000, errors=0, seconds=8, p50_ms=101, p99_ms=110)
    result = ScenarioResult(scenario, upstream)
    result.variants.append(VariantResult(scenario.variants[0], summarize(_rounds(80, 220))))
    result.variants.append(VariantResult(scenario.variants[1], summarize(_rounds(160, 115))))
    return result


def _info() -> report.RunInfo:
    return report.RunInfo(
        started="2026-11-25T18:00:00+00:00",
        command="hello-async bench --quick",
        machine={"cpus": 2},
        load_generator="wrk 4.1.0",
        pinning="server on CPU 0; load generator and upstream on CPU 1",
        timing={"warmup": 1, "seconds": 8, "rounds": 2},
        delay_ms=100,
        quick=True,
    )


def test_quick_scenarios_exist_and_compare_two_or_more_variants() -> None:
    scenarios = {s.name: s for s in build(quick=True, delay_ms=100, block_ms=250)}
    for name in QUICK_SCENARIOS:
        assert len(scenarios[name].variants) >= 2
        numerator, denominator = scenarios[name].ratio
        scenarios[name].variant(numerator)
        scenarios[name].variant(denominator)


def test_scenario_json_has_the_ratio_floors_and_upstream_check() -> None:
    data = report.scenario_json(_gather_result(), delay_ms=100)
    assert data["ratio"] == {
        "of": "gathered / sequential (requests/s)",
        "metric": "rps",
        "value": pytest.approx(2.0),
    }
    sequential, gathered = data["variants"]
    # Two 100 ms calls in a row: a 200 ms floor, so 20 clients get at most 100 req/s.
    assert sequential["floor_rps"] == 100
    assert sequential["fraction_of_floor"] == pytest.approx(0.8)
    assert gathered["floor_rps"] == 200
    assert data["upstream"]["concurrency"] == 40
    assert data["upstream"]["fraction_of_floor"] == pytest.approx(375 / 400, abs=0.001)
    assert len(sequential["rounds"]) == 2


def test_results_json_is_strict_json_without_nan(tmp_path: Path) -> None:
    scenario = next(
        s for s in build(quick=True, delay_ms=100, block_ms=250) if s.name == "blocking"
    )
    result = ScenarioResult(scenario, None)
    for variant in scenario.variants:
        result.variants.append(VariantResult(variant, summarize(_rounds(500, 10))))
    data = report.results_json(_info(), [result])
    report.write_json(data, tmp_path / "results.json")
    loaded = json.loads((tmp_path / "results.json").read_text())
    assert loaded["scenarios"][0]["variants"][0]["fraction_of_floor"] is None  # no floor
    assert loaded["scenarios"][0]["upstream"] is None


def test_table_and_chart_render(tmp_path: Path) -> None:
    data = report.results_json(_info(), [_gather_result()])
    console = Console(width=180, record=True)
    console.print(report.table(data))
    text = console.export_text()
    assert "gathered / sequential" in text
    assert "2.00x" in text
    assert "upstream alone" in text
    (path,) = charts.draw_all(data, tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_chart_with_the_slowest_request_and_the_fleet_chart_render(tmp_path: Path) -> None:
    data = report.results_json(_info(), [_gather_result()])
    scenario = data["scenarios"][0]
    for n, variant in enumerate(scenario["variants"]):
        variant["max_ms"] = 1000.0 * (n + 1)  # a third bar a variant, the slowest request
    figures = {"p50_ms": 3.0, "p99_ms": 9.0, "max_ms": 20.0}
    fleet = {
        "title": "fleet",
        "chart": "fleet.png",
        "load": "fleet",
        "details": {"board": {"running": figures, "successful": figures}, "console": figures},
        "variants": [
            {"key": "local", "label": "REDIS_URL unset", "rps": 900.0},
            {"key": "redis", "label": "REDIS_URL set", "rps": 880.0},
        ],
        "ratio": {"value": 0.978},
    }
    data["scenarios"].append(fleet)
    paths = charts.draw_all(data, tmp_path)
    assert [path.name for path in paths] == [scenario["chart"], "fleet.png"]
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in paths)


def test_cli_rejects_an_unknown_scenario_and_a_bad_block_length() -> None:
    from hello_async.bench.cli import main

    with pytest.raises(SystemExit, match="unknown scenario nope"):
        main(["--scenario", "nope"])
    with pytest.raises(SystemExit) as exited:
        main(["--block-ms", "9999"])
    assert exited.value.code == 2


def _live_result() -> ScenarioResult:
    from hello_async.bench.scenarios import live_scenario

    scenario = live_scenario(1000)
    upstream = LoadResult(requests=150000, errors=0, seconds=8, p50_ms=101, p99_ms=110)
    result = ScenarioResult(scenario, upstream)
    for variant, events, grown in zip(scenario.variants, (48000, 40000), (50, 60), strict=True):
        load = LoadResult(requests=2000, errors=0, seconds=8, p50_ms=300, p99_ms=700, events=events)
        rounds = [Round(load, peak_rss_mb=70 + grown, peak_threads=6, idle_rss_mb=70)] * 2
        result.variants.append(VariantResult(variant, summarize(rounds)))
    return result


def test_a_stream_row_compares_events_per_second_and_memory_a_stream(tmp_path: Path) -> None:
    data = report.results_json(_info(), [_live_result()])
    (live,) = data["scenarios"]
    assert live["load"] == "sse"
    assert live["ratio"]["metric"] == "events_per_s"
    assert live["ratio"]["value"] == pytest.approx(48000 / 40000)
    ours, peer = live["variants"]
    assert ours["events_per_s"] == 6000
    assert ours["kb_per_connection"] == pytest.approx(50 * 1024 / 1000, abs=0.1)
    assert peer["kb_per_connection"] == pytest.approx(60 * 1024 / 1000, abs=0.1)
    console = Console(width=200, record=True)
    console.print(report.table(data))
    text = console.export_text()
    assert "KB a stream" in text
    assert "1.20x" in text
    assert "sseload" in text
    (path,) = charts.draw_all(data, tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")


def _peer_result() -> ScenarioResult:
    scenario = next(s for s in build(quick=True, delay_ms=100, block_ms=250) if s.name == "peer")
    upstream = LoadResult(requests=3000, errors=0, seconds=8, p50_ms=101, p99_ms=110)
    result = ScenarioResult(scenario, upstream)
    figures = {"ours": (160, 110, 5500), "fastapi": (100, 120, 5100), "bolt": (200, 105, 900)}
    for variant in scenario.variants:
        rps, p99, slowest = figures[variant.key]
        load = LoadResult(
            requests=rps * 8, errors=0, seconds=8, p50_ms=100, p99_ms=p99, max_ms=slowest
        )
        rounds = [Round(load, peak_rss_mb=80, peak_threads=6)] * 2
        result.variants.append(VariantResult(variant, summarize(rounds)))
    return result


def test_the_peer_row_gives_our_ratio_against_each_peer_with_the_tail() -> None:
    data = report.scenario_json(_peer_result(), delay_ms=100)
    assert {v["key"] for v in data["variants"]} == {"ours", "fastapi", "bolt"}
    ratios = [(r["of"], r["value"], r["p99"]) for r in data["ratios"]]
    assert ratios == [
        ("ours / fastapi (requests/s)", 1.6, pytest.approx(110 / 120, abs=1e-3)),
        ("ours / bolt (requests/s)", 0.8, pytest.approx(110 / 105, abs=1e-3)),
        ("bolt / fastapi (requests/s)", 2.0, pytest.approx(105 / 120, abs=1e-3)),
    ]  # no "ours / before": the run has no --baseline
    assert data["ratio"]["value"] == 1.6  # the scenario's own ratio stays the first
    assert {v["key"]: v["max_ms"] for v in data["variants"]}["bolt"] == 900
    console = Console(width=220, record=True)
    console.print(report.table(report.results_json(_info(), [_peer_result()])))
    text = console.export_text()
    assert "ours / bolt" in text
    assert "bolt / fastapi" in text
    assert "0.80x" in text
    assert "5,500" in text  # our slowest request


def test_a_results_file_without_every_ratio_still_draws() -> None:
    data = report.results_json(_info(), [_gather_result()])
    for scenario in data["scenarios"]:
        del scenario["ratios"]
        for variant in scenario["variants"]:
            del variant["max_ms"]
    console = Console(width=200, record=True)
    console.print(report.table(data))
    assert "2.00x" in console.export_text()
