"""One PNG per scenario: requests/s (against the floor) and p50/p99/slowest latency, side by side.

For event streams (``load == "sse"``): events/s with each server's memory a stream, and the time
to each stream's first event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402

COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]


def _label(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    """A latency: tenths of a millisecond below 100 ms, whole milliseconds above."""
    return _label(value, 1 if value is not None and value < 100 else 0)


def draw(scenario: dict[str, Any], info: dict[str, Any], path: Path) -> Path:
    variants = scenario["variants"]
    names = [v["label"] for v in variants]
    streams = scenario.get("load") == "sse"
    rps = [v["events_per_s" if streams else "rps"] or 0.0 for v in variants]
    p50 = [v["p50_ms"] or 0.0 for v in variants]
    p99 = [v["p99_ms"] or 0.0 for v in variants]
    colors = [COLORS[i % len(COLORS)] for i in range(len(variants))]
    ratio = scenario["ratio"]
    ratio_text = "—" if ratio["value"] is None else f"{ratio['value']:.2f}x"

    # Wider with more variants, so that their names and the figures over the bars stay apart.
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(11, 2.2 * len(variants)), 4.6), dpi=90)
    fig.suptitle(
        f"{scenario['title']}  —  {ratio['of']}: {ratio_text}", fontsize=12, fontweight="bold"
    )
    positions = list(range(len(variants)))

    bars = left.bar(positions, rps, color=colors)
    shares = [
        f"{_label(x)}\n(+{v['kb_per_connection']:,.0f} KB a stream)"
        if streams and v["requests"]
        else f"{_label(x)}\n({v['fraction_of_floor'] * 100:.0f}% of floor)"
        if v["fraction_of_floor"] is not None and v["requests"]
        else (_label(x) if v["requests"] else "none answered\nwithin the round")
        for x, v in zip(rps, variants, strict=True)
    ]
    top = max([*rps, *(v["floor_rps"] or 0 for v in variants)]) * 1.18 or 1.0
    for bar, text in zip(bars, shares, strict=True):
        # Inside a tall bar (white), above a short one (black), so every figure stays legible.
        inside = bar.get_height() > 0.2 * top
        left.annotate(
            text,
            (
                bar.get_x() + bar.get_width() / 2,
                bar.get_height() / 2 if inside else bar.get_height(),
            ),
            textcoords="offset points",
            xytext=(0, 0 if inside else 14),
            ha="center",
            va="center",
            fontsize=9,
            color="white" if inside else "black",
        )
    floors = {v["floor_rps"] for v in variants if v["floor_rps"]}
    if len(floors) == 1:  # one floor for all: one line across, labelled once
        (floor,) = floors
        left.axhline(floor, color="black", linestyle="dashed", linewidth=1)
        left.annotate(
            f"floor {floor:,.0f} req/s (N / latency floor)",
            (len(variants) - 0.5, floor),
            textcoords="offset points",
            xytext=(0, 3),
            ha="right",
            fontsize=8,
        )
    else:
        for x, v in zip(positions, variants, strict=True):
            if v["floor_rps"]:
                left.hlines(v["floor_rps"], x - 0.4, x + 0.4, colors="black", linestyles="dashed")
                left.annotate(
                    f"floor {v['floor_rps']:,.0f}",
                    (x, v["floor_rps"]),
                    textcoords="offset points",
                    xytext=(0, 3),
                    ha="center",
                    fontsize=8,
                )
    left.set_ylabel(f"{'events' if streams else 'requests'}/s (higher is better)")
    left.set_title(f"throughput at {scenario['concurrency']} concurrent", fontsize=10)
    left.set_ylim(0, top)

    # The slowest request too, where the load generator says it (wrk: every request row): at
    # overload it is where servers differ most, far past the p99.
    slowest = [v.get("max_ms") for v in variants]
    tail = not streams and any(value is not None for value in slowest)
    width = 0.27 if tail else 0.38
    offsets = (-width, 0.0, width) if tail else (-width / 2, width / 2, 0.0)
    b50 = right.bar([x + offsets[0] for x in positions], p50, width, label="p50", color=colors)
    b99 = right.bar(
        [x + offsets[1] for x in positions],
        p99,
        width,
        label="p99",
        color=colors,
        alpha=0.5,
        hatch="//",
    )
    size = 7 if tail else 8  # three figures a variant: smaller, so neighbours do not touch
    right.bar_label(b50, labels=[_ms(v["p50_ms"]) for v in variants], padding=2, fontsize=size)
    right.bar_label(b99, labels=[_ms(v["p99_ms"]) for v in variants], padding=2, fontsize=size)
    highest = [*p99, *p50, 1.0]
    if tail:
        b_max = right.bar(
            [x + offsets[2] for x in positions],
            [value or 0.0 for value in slowest],
            width,
            label="slowest",
            color=colors,
            alpha=0.25,
            hatch="xx",
        )
        right.bar_label(b_max, labels=[_ms(value) for value in slowest], padding=2, fontsize=size)
        highest.extend(value or 0.0 for value in slowest)
    right.set_ylabel(f"{'time to the first event' if streams else 'latency'}, ms (lower is better)")
    what = "p50 (solid), p99 (hatched), slowest (crossed)" if tail else "p50 (solid), p99 (hatched)"
    right.set_title(f"{'first event' if streams else 'latency'}: {what}", fontsize=10)
    right.set_ylim(0, max(highest) * 1.18)

    for axis in (left, right):
        axis.set_xticks(positions, [_wrap(n) for n in names], fontsize=8)
        axis.spines[["top", "right"]].set_visible(False)
        axis.grid(axis="y", alpha=0.3)
        axis.set_axisbelow(True)

    fig.text(
        0.01,
        0.01,
        f"{info['load_generator']} · {info['pinning']} · upstream {info['upstream_delay_ms']:g} ms"
        f" · {info['started']}",
        fontsize=7,
        color="#555555",
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _wrap(text: str, width: int = 18) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


def draw_fleet(scenario: dict[str, Any], info: dict[str, Any], path: Path) -> Path:
    """The fleet row: how late each delivery came (p50, p99, max) on the left; the fan-out's
    requests/s with REDIS_URL unset and set on the right."""
    details = scenario.get("details", {})
    delivered: list[tuple[str, dict[str, Any]]] = []
    if "board" in details:
        delivered.append(("board RUNNING", details["board"]["running"]))
        delivered.append(("board SUCCESSFUL", details["board"]["successful"]))
    if "console" in details:
        delivered.append(("console lines", details["console"]))
    fanout = [v for v in scenario["variants"] if v["key"] not in ("board", "console")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), dpi=90)
    fig.suptitle(scenario["title"], fontsize=12, fontweight="bold")
    width = 0.27
    for n, (figure, alpha) in enumerate((("p50_ms", 1.0), ("p99_ms", 0.6), ("max_ms", 0.3))):
        values = [figures[figure] or 0.0 for _, figures in delivered]
        bars = left.bar(
            [x + (n - 1) * width for x in range(len(delivered))],
            values,
            width,
            label=figure.removesuffix("_ms"),
            color=COLORS[0],
            alpha=alpha,
        )
        left.bar_label(bars, labels=[_label(v, 0) for v in values], padding=2, fontsize=8)
    left.set_xticks(range(len(delivered)), [_wrap(name) for name, _ in delivered], fontsize=8)
    left.set_ylabel("from the transition (or the line) to the stream, ms")
    left.set_title("delivery across hosts: p50, p99, max", fontsize=10)
    left.legend(fontsize=8)
    rates = [v["rps"] or 0.0 for v in fanout]
    bars = right.bar(
        range(len(fanout)), rates, color=[COLORS[1 + n % 2] for n in range(len(fanout))]
    )
    right.bar_label(bars, labels=[_label(v) for v in rates], padding=2, fontsize=8)
    right.set_xticks(range(len(fanout)), [_wrap(v["label"]) for v in fanout], fontsize=8)
    right.set_ylabel("requests/s (higher is better)")
    ratio = scenario["ratio"]["value"]
    right.set_title(
        f"fan-out, REDIS_URL set / unset: {'—' if ratio is None else f'{ratio:.3f}x'}",
        fontsize=10,
    )
    for axis in (left, right):
        axis.spines[["top", "right"]].set_visible(False)
        axis.grid(axis="y", alpha=0.3)
        axis.set_axisbelow(True)
    fig.text(0.01, 0.01, f"{info['pinning']} · {info['started']}", fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_all(data: dict[str, Any], directory: Path) -> list[Path]:
    return [
        (draw_fleet if sc.get("load") == "fleet" else draw)(sc, data, directory / sc["chart"])
        for sc in data["scenarios"]
    ]
