"""``hello-async bench``: run the scenarios side by side, print the table, write JSON and charts.

    hello-async bench [--quick] [--json PATH] [--out DIR] [--scenario NAME ...] [--builtin-load]

Results go to ``bench-results/<timestamp>/`` (``results.json`` and one PNG per scenario), and
also to ``--json PATH`` when given. ``--quick`` (CI) runs a few small scenarios in under a
minute; the full run takes about seven. ``--scenario fleet`` (on demand, about 2.5 minutes):
two hosts on one Redis and one database (hello_async.bench.fleet).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from hello_async.bench import charts, fleet, report
from hello_async.bench.loadgen import LoadError, choose
from hello_async.bench.model import Scenario
from hello_async.bench.processes import ROOT, CpuPlan, ServerError, start_delay_server
from hello_async.bench.runner import Runner, ScenarioResult, Timing
from hello_async.bench.scenarios import QUICK_SCENARIOS, build

FULL = Timing(warmup=3.0, seconds=8.0, rounds=2)
QUICK = Timing(warmup=1.0, seconds=2.0, rounds=1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hello-async bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="a few small scenarios (< 60 s)")
    parser.add_argument("--json", type=Path, help="also write the results JSON here")
    parser.add_argument("--out", type=Path, help="results directory (default: bench-results/<ts>)")
    parser.add_argument(
        "--scenario", action="append", default=[], metavar="NAME", help="run only these (repeat)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY",
        help="run only these variants of the scenarios (repeat; e.g. all, no_text)",
    )
    parser.add_argument("--builtin-load", action="store_true", help="not wrk, even if installed")
    parser.add_argument("--seconds", type=float, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, help="warm-up seconds (thrown away)")
    parser.add_argument("--rounds", type=int, help="measured rounds per variant")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="upstream delay (100)")
    parser.add_argument(
        "--baseline",
        type=_checkout,
        metavar="DIR",
        help="another checkout of the project (a git worktree): its server joins the peer rows",
    )
    parser.add_argument(
        "--block-ms", type=_block_ms, default=250, help="blocking call, 1-5000 ms (250)"
    )
    parser.add_argument(
        "--fleet-streams",
        type=_positive,
        default=fleet.STREAMS,
        metavar="N",
        help=f"the fleet row's board streams ({fleet.STREAMS})",
    )
    parser.add_argument(
        "--fleet-requests",
        type=_positive,
        default=fleet.REQUESTS,
        metavar="N",
        help=f"the fleet row's console-followed requests ({fleet.REQUESTS})",
    )
    parser.add_argument(
        "--replot",
        type=Path,
        metavar="RESULTS_JSON",
        help="only redraw charts and table from a run",
    )
    return parser


def _checkout(raw: str) -> Path:
    path = Path(raw).resolve()
    if not (path / "hello_async" / "asgi.py").is_file():
        raise argparse.ArgumentTypeError(f"{raw} is not a checkout of hello_async")
    return path


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} must be at least 1")
    return value


def _block_ms(raw: str) -> int:
    # /compare/block/ and /compare/nonblock/ accept 0-5000 ms (hello_async.lab.compare.MAX_MS).
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if not 1 <= value <= 5000:
        raise argparse.ArgumentTypeError(f"{raw!r} must be 1 to 5000")
    return value


def select(scenarios: list[Scenario], names: Sequence[str], quick: bool) -> list[Scenario]:
    every = [s.name for s in scenarios if not s.on_demand]
    wanted = list(names) or (list(QUICK_SCENARIOS) if quick else every)
    known = {s.name: s for s in scenarios}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(
            f"hello-async bench: unknown scenario {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return [known[n] for n in wanted]


def only(scenario: Scenario, keys: Sequence[str]) -> Scenario:
    """``scenario`` with only the variants named (and the two its ratio needs, and its
    reference)."""
    kept = {*keys, *scenario.ratio, scenario.reference_key}
    unknown = set(keys) - {v.key for v in scenario.variants}
    if unknown:
        raise SystemExit(f"hello-async bench: {scenario.name} has no variant {', '.join(unknown)}")
    variants = tuple(v for v in scenario.variants if v.key in kept)
    return dataclasses.replace(scenario, variants=variants)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import django

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }


def raise_open_files() -> None:
    # 1000 connections on each side of the server need more descriptors than the usual 1024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.replot:
        return replot(args.replot)
    base = QUICK if args.quick else FULL
    timing = Timing(
        warmup=base.warmup if args.warmup is None else args.warmup,
        seconds=base.seconds if args.seconds is None else args.seconds,
        rounds=base.rounds if args.rounds is None else max(1, args.rounds),
    )
    every = build(
        quick=args.quick, delay_ms=args.delay_ms, block_ms=args.block_ms, baseline=args.baseline
    )
    every.append(
        fleet.scenario(args.delay_ms, streams=args.fleet_streams, requests=args.fleet_requests)
    )
    scenarios = select(
        every,
        args.scenario,
        args.quick,
    )
    if args.variant:
        scenarios = [only(scenario, args.variant) for scenario in scenarios]
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock = time.monotonic()
    out = args.out or ROOT / "bench-results" / started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)

    raise_open_files()
    plan = CpuPlan.detect()
    if plan.load is not None:
        os.sched_setaffinity(0, {plan.load})  # the bench's own threads stay off the server's CPU
    load = choose(prefer_builtin=args.builtin_load)
    console = Console()
    if not console.is_terminal:  # a log or a pipe: wide enough for the table's columns
        console = Console(width=max(console.width, 150))
    progress_console = Console(stderr=True)
    console.print(
        f"[bold]hello-async bench[/bold]: {len(scenarios)} scenarios, load from "
        f"{load.description}; {plan.describe()}"
    )

    upstream_checks = len({s.upstream_concurrency for s in scenarios if s.fan_out})
    total = upstream_checks + sum(
        fleet.steps(s, timing.rounds) if s.load == "fleet" else len(s.variants) * timing.rounds
        for s in scenarios
    )
    results: list[ScenarioResult] = []
    failed: dict[str, str] = {}
    delay, upstream_url = start_delay_server(
        plan, delay_ms=args.delay_ms, log=out / "logs" / "delay-server.log"
    )
    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=progress_console,
            transient=True,
        ) as progress:
            task = progress.add_task("starting", total=total)
            runner = Runner(
                plan=plan,
                load=load,
                timing=timing,
                upstream_url=upstream_url,
                logs=out / "logs",
                on_step=lambda step: _step(progress, task, step),
                on_done=lambda step: progress.advance(task),
            )
            for scenario in scenarios:
                try:
                    run = fleet.run if scenario.load == "fleet" else Runner.run
                    results.append(run(runner, scenario))
                except (ServerError, LoadError, RuntimeError) as exc:
                    # One broken scenario should not throw away the others' measurements.
                    failed[scenario.name] = str(exc)
                    console.print(f"[red]hello-async bench: {scenario.name} failed: {exc}[/red]")
    finally:
        delay.stop()

    info = report.RunInfo(
        started=started.isoformat(),
        command=shlex.join(["hello-async", "bench", *(argv if argv is not None else [])]),
        machine=machine(),
        load_generator=load.description,
        pinning=plan.describe(),
        timing={"warmup": timing.warmup, "seconds": timing.seconds, "rounds": timing.rounds},
        delay_ms=args.delay_ms,
        quick=args.quick,
    )
    data = report.results_json(info, results)
    data["failed"] = failed
    data["elapsed_s"] = round(time.monotonic() - clock, 1)
    report.write_json(data, out / "results.json")
    if args.json:
        report.write_json(data, args.json)
    charts.draw_all(data, out)
    console.print(report.table(data))
    console.print(f"results: {out / 'results.json'}" + (f" and {args.json}" if args.json else ""))
    console.print(f"charts:  {', '.join(str(out / s['chart']) for s in data['scenarios'])}")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)} (logs in {out / 'logs'})[/red]")
    return 1 if failed else 0


def _step(progress: Progress, task: TaskID, step: str) -> None:
    progress.update(task, description=step)
    if not progress.console.is_terminal:  # a CI log: no live bar, so one line per step
        done = int(progress.tasks[0].completed) + 1
        progress.console.print(f"[{done}/{progress.tasks[0].total:g}] {step}", highlight=False)


def replot(results: Path) -> int:
    data = json.loads(results.read_text())
    paths = charts.draw_all(data, results.parent)
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 150))
    console.print(report.table(data))
    console.print(f"charts:  {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
