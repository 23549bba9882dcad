"""Load generators: wrk when it is on PATH, else the built-in one (aiohttp, closed loop).

Both run as child processes (pinned by the caller) and both come back as a ``LoadResult``.

``python -m hello_async.bench.loadgen URL -c N -d SECONDS`` is the built-in generator: N
connections, each sending its next GET as soon as the last answer arrived (as wrk does), for
SECONDS; it prints one JSON line with the counts and percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from hello_async.bench.stats import LoadResult

TIMEOUT_SECONDS = 10


class LoadError(RuntimeError):
    """The load generator failed or printed something we cannot read."""


@dataclass(frozen=True)
class LoadGenerator:
    name: str
    description: str

    def argv(self, url: str, *, concurrency: int, seconds: float) -> list[str]:
        if self.name == "wrk":
            return [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                f"--timeout={TIMEOUT_SECONDS}s",
                url,
            ]
        return [
            sys.executable,
            "-m",
            "hello_async.bench.loadgen",
            url,
            "-c",
            str(concurrency),
            "-d",
            f"{seconds:g}",
        ]

    def parse(self, output: str) -> LoadResult:
        return parse_wrk(output) if self.name == "wrk" else parse_builtin(output)

    def run(
        self, url: str, *, concurrency: int, seconds: float, prefix: Sequence[str] = ()
    ) -> LoadResult:
        argv = [*prefix, *self.argv(url, concurrency=concurrency, seconds=seconds)]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + TIMEOUT_SECONDS + 30
        )
        if done.returncode != 0:
            raise LoadError(f"{argv[len(prefix)]} exited {done.returncode}: {done.stderr.strip()}")
        return self.parse(done.stdout)


def choose(prefer_builtin: bool = False) -> LoadGenerator:
    """wrk when it is on PATH (unless the built-in one is asked for)."""
    if not prefer_builtin and shutil.which("wrk"):
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        first = (version.strip().splitlines() or ["wrk"])[0].split(" [")[0]
        return LoadGenerator("wrk", first)
    return LoadGenerator("builtin", "built-in async generator (aiohttp)")


# --- wrk's output ---------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),")
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
# "    Latency   104.21ms    3.10ms   1.30s   90.00%": average, deviation, then the slowest.
_LATENCY_MAX = re.compile(
    r"^\s*Latency\s+[\d.]+(?:us|ms|s|m|h)\s+[\d.]+(?:us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)",
    re.MULTILINE,
)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(output: str) -> LoadResult:
    """Read ``wrk --latency`` output: requests, seconds, errors (socket errors plus non-2xx/3xx
    answers), the 50th/99th percentiles and the slowest request."""
    found = _DURATION.search(output)
    if not found:
        raise LoadError(f"no request count in wrk's output:\n{output}")
    requests = int(found.group(1))
    seconds = float(found.group(2)) * _UNITS_MS[found.group(3)] / 1000
    latencies = {q: float(v) * _UNITS_MS[u] for q, v, u in _PERCENTILE.findall(output)}
    slowest = _LATENCY_MAX.search(output)
    max_ms = float(slowest.group(1)) * _UNITS_MS[slowest.group(2)] if slowest else math.nan
    if requests == 0:  # wrk prints 0.00us percentiles then: there is no latency to report
        latencies = {"50": math.nan, "99": math.nan}
        max_ms = math.nan
    elif "50" not in latencies or "99" not in latencies:
        raise LoadError(f"no latency distribution in wrk's output (--latency?):\n{output}")
    errors = 0
    if socket_errors := _SOCKET_ERRORS.search(output):
        errors += sum(int(n) for n in socket_errors.groups())
    if non_2xx := _NON_2XX.search(output):
        errors += int(non_2xx.group(1))
    return LoadResult(
        requests=requests,
        errors=errors,
        seconds=seconds,
        p50_ms=latencies["50"],
        p99_ms=latencies["99"],
        max_ms=max_ms,
    )


def parse_builtin(output: str) -> LoadResult:
    try:
        data = json.loads(output.strip().splitlines()[-1])
        return LoadResult(**data)
    except (IndexError, ValueError, TypeError) as exc:
        raise LoadError(f"unreadable output from the built-in generator:\n{output}") from exc


# --- the built-in generator -----------------------------------------------------------------


async def agenerate(url: str, *, concurrency: int, seconds: float) -> LoadResult:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    started = time.perf_counter()
    deadline = started + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while (sent := time.perf_counter()) < deadline:
            try:
                async with session.get(url) as response:
                    await response.read()
                    ok = 200 <= response.status < 400
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            now = time.perf_counter()
            if now > deadline:
                break  # answered after the end: not counted, as with wrk
            latencies.append((now - sent) * 1000)
            errors += not ok

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return LoadResult.from_latencies(latencies, errors=errors, seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hello_async.bench.loadgen")
    parser.add_argument("url")
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("-d", "--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    result = runner(agenerate(args.url, concurrency=args.concurrency, seconds=args.seconds))
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
