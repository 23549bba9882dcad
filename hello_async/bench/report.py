"""The bench's output: results as JSON (the record) and as a rich table (the summary)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from hello_async.bench.runner import ScenarioResult, VariantResult
from hello_async.bench.stats import floor_rps, fraction_of_floor, ratio


@dataclass(frozen=True)
class RunInfo:
    started: str
    command: str
    machine: dict[str, Any]
    load_generator: str
    pinning: str
    timing: dict[str, float]
    delay_ms: float
    quick: bool


def scenario_ratio(
    result: ScenarioResult, pair: tuple[str, str] | None = None, metric: str | None = None
) -> float:
    """The scenario's ratio (or ``pair``'s) on its metric (or ``metric``)."""
    numerator, denominator = pair or result.scenario.ratio
    metric = metric or result.scenario.ratio_metric
    by_key = {v.variant.key: v.summary for v in result.variants}
    return ratio(getattr(by_key[numerator], metric), getattr(by_key[denominator], metric))


def ratio_label(result: ScenarioResult, pair: tuple[str, str] | None = None) -> str:
    numerator, denominator = pair or result.scenario.ratio
    units = {"rps": "requests/s", "events_per_s": "events/s", "p50_ms": "p50", "p99_ms": "p99"}
    unit = units[result.scenario.ratio_metric]
    return f"{numerator} / {denominator} ({unit})"


def ratios_json(result: ScenarioResult) -> list[dict[str, Any]]:
    """Every ratio of the scenario (``ratio`` first, then ``also``), each with the same pair's
    p99 ratio beside it: a side may win on the median and lose on the tail."""
    return [
        {
            "of": ratio_label(result, pair),
            "value": _finite(scenario_ratio(result, pair)),
            "p99": _finite(scenario_ratio(result, pair, "p99_ms")),
        }
        for pair in result.scenario.ratios
    ]


def _finite(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 3)


def variant_json(result: ScenarioResult, item: VariantResult) -> dict[str, Any]:
    v, s = item.variant, item.summary
    c = v.concurrency or result.scenario.concurrency
    return {
        "key": v.key,
        "concurrency": c,
        "label": v.label,
        "server": v.server.name,
        "path": v.path,
        "background_path": v.background_path,
        "latency_floor_ms": v.latency_floor_ms,
        "floor_rps": _finite(floor_rps(c, v.latency_floor_ms)),
        "fraction_of_floor": _finite(fraction_of_floor(s.rps, c, v.latency_floor_ms)),
        "rps": _finite(s.rps),
        "rps_min": _finite(s.rps_min),
        "rps_max": _finite(s.rps_max),
        "p50_ms": _finite(s.p50_ms),
        "p99_ms": _finite(s.p99_ms),
        "max_ms": _finite(s.max_ms),
        "requests": s.requests,
        "errors": s.errors,
        "peak_rss_mb": round(s.peak_rss_mb, 1),
        "rss_grown_mb": round(s.rss_grown_mb, 1),
        "kb_per_connection": round(s.rss_grown_mb * 1024 / c, 1),
        "events_per_s": _finite(s.events_per_s),
        "peak_threads": s.peak_threads,
        "rounds": [
            {k: _finite(x) if isinstance(x, float) else x for k, x in r.as_json().items()}
            for r in s.rounds
        ],
    }


def scenario_json(result: ScenarioResult, delay_ms: float) -> dict[str, Any]:
    sc = result.scenario
    upstream: dict[str, Any] | None = None
    if result.upstream is not None:
        up = result.upstream
        upstream = {
            "concurrency": sc.upstream_concurrency,
            "delay_ms": delay_ms,
            "rps": _finite(up.rps),
            "p50_ms": _finite(up.p50_ms),
            "p99_ms": _finite(up.p99_ms),
            "errors": up.errors,
            "floor_rps": _finite(floor_rps(sc.upstream_concurrency, delay_ms)),
            "fraction_of_floor": _finite(
                fraction_of_floor(up.rps, sc.upstream_concurrency, delay_ms)
            ),
        }
    return {
        "name": sc.name,
        "title": sc.title,
        "claim": sc.claim,
        "concurrency": sc.concurrency,
        "upstream": upstream,
        "ratio": {
            "of": ratio_label(result),
            "metric": sc.ratio_metric,
            "value": _finite(scenario_ratio(result)),
        },
        "ratios": ratios_json(result),
        "reference": sc.reference_key,
        "load": sc.load,
        "variants": [variant_json(result, item) for item in result.variants],
        "chart": f"{sc.name}.png",
        **({"details": result.details} if result.details else {}),
    }


def results_json(info: RunInfo, results: list[ScenarioResult]) -> dict[str, Any]:
    return {
        "started": info.started,
        "command": info.command,
        "machine": info.machine,
        "load_generator": info.load_generator,
        "pinning": info.pinning,
        "timing": info.timing,
        "upstream_delay_ms": info.delay_ms,
        "quick": info.quick,
        "scenarios": [scenario_json(r, info.delay_ms) for r in results],
    }


def write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")


# --- the table --------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def table(data: dict[str, Any]) -> Table:
    out = Table(
        title="hello-async bench: side by side, one run",
        caption=(
            f"load: {data['load_generator']}"
            + (
                " (streams: hello_async.bench.sseload)"
                if any(sc.get("load") == "sse" for sc in data["scenarios"])
                else ""
            )
            + f" · {data['pinning']} · upstream delay "
            f"{data['upstream_delay_ms']:g} ms · warm-up {data['timing']['warmup']:g} s, "
            f"{data['timing']['rounds']:g} x {data['timing']['seconds']:g} s measured per variant"
            " (median round)"
            + (f" · {data['elapsed_s']:g} s in all" if "elapsed_s" in data else "")
        ),
        title_justify="left",
        caption_justify="left",
    )
    out.add_column("scenario", style="bold")
    out.add_column("variant")
    out.add_column("server", style="dim")
    out.add_column("c", justify="right")
    out.add_column("req/s\n(events/s)", justify="right")
    out.add_column("x ref", justify="right")
    out.add_column("of floor", justify="right")
    out.add_column("p50 ms\n(1st event)", justify="right")
    out.add_column("p99 ms", justify="right")
    out.add_column("max ms", justify="right")
    out.add_column("errors", justify="right")
    out.add_column("peak RSS MB", justify="right")
    out.add_column("peak threads", justify="right")
    for sc in data["scenarios"]:
        first = True
        by_key = {v["key"]: v for v in sc["variants"]}
        reference = by_key.get(sc.get("reference", ""))
        streams = sc.get("load") == "sse"  # events/s; time to the first event; memory a stream
        rate = "events_per_s" if streams else "rps"
        for v in sc["variants"]:
            against = "—"
            # A fleet row counts deliveries (received / expected), not a rate.
            delivered = sc.get("details", {}).get(v["key"])
            delivered = (
                delivered if isinstance(delivered, dict) and "expected" in delivered else None
            )
            if not delivered and reference is not None and reference[rate] and v[rate]:
                against = f"{v[rate] / reference[rate]:.2f}"
            memory = _num(v["peak_rss_mb"])
            if streams:
                memory += f" (+{v['kb_per_connection']:,.0f} KB a stream)"
            shown_rate = _num(v[rate]) if v["requests"] else "[red]0: none answered[/red]"
            if delivered:
                shown_rate = (
                    f"{delivered['received']:,}/{delivered['expected']:,} {delivered['unit']}"
                )
            out.add_row(
                sc["name"] if first else "",
                v["label"],
                v["server"],
                str(v.get("concurrency", sc["concurrency"])),
                shown_rate,
                against,
                _pct(v["fraction_of_floor"]),
                _num(v["p50_ms"], 1),
                _num(v["p99_ms"], 1),
                _num(v.get("max_ms"), 0),
                f"[red]{v['errors']}[/red]" if v["errors"] else "0",
                memory,
                str(v["peak_threads"]),
            )
            first = False
        if sc["upstream"] is not None:
            up = sc["upstream"]
            out.add_row(
                "",
                "upstream alone",
                "delay server",
                str(up["concurrency"]),
                _num(up["rps"]),
                "",
                _pct(up["fraction_of_floor"]),
                _num(up["p50_ms"], 1),
                _num(up["p99_ms"], 1),
                "",
                str(up["errors"]),
                "",
                "",
                style="dim",
            )
        # Old results (--replot) carry one ratio; newer ones every pair (their p99 ratios are
        # in the JSON only: beside a rate, where higher is better, they would read backwards).
        rows = sc.get("ratios") or [sc["ratio"]]
        metric = {"events_per_s": "rps"}.get(sc["ratio"]["metric"], sc["ratio"]["metric"])
        for index, row in enumerate(rows):
            value = row["value"]
            cells = {"rps": "", "p50_ms": "", "p99_ms": ""}
            cells[metric] = "—" if value is None else f"[bold]{value:.2f}x[/bold]"
            numerator, denominator = row["of"].split(" (")[0].split(" / ")
            out.add_row(
                "",
                f"[bold]ratio[/bold] {numerator} / {denominator}",
                "",
                "",
                cells["rps"],
                "",
                "",
                cells["p50_ms"],
                cells["p99_ms"],
                end_section=index == len(rows) - 1,
            )
    return out
