"""Soak: hold about 80% of measured capacity on the fan-out view and watch what the server holds.

    uv run python scripts/soak.py --duration 300      # the issue's 5 minutes
    uv run python scripts/soak.py --duration 60       # CI's form (tests/system/test_soak.py)

Starts a delay upstream (answers every request after 100 ms, keep-alive) and the server
(Uvicorn, one worker, uvloop + httptools, access log off, WARNING logs, demo waits at 0),
measures capacity on ``/smoke_some_meats/`` (two gathered upstream calls) with a closed loop,
then offers ``--load`` (0.8) of it at a steady rate for ``--duration`` seconds. Every second it
samples the server's RSS (VmRSS), threads (/proc/PID/task) and file descriptors (/proc/PID/fd).

Targets (the exit status is 1 when one fails):
    * 0 errors: every request answered 200, none left unsent because 1000 were in flight;
    * RSS after the warm-up grows less than 10% (median of the first 10 samples after the
      warm-up against the median of the last 10 samples under load);
    * threads and file descriptors come back to the idle baseline (taken after the capacity
      run, once idle connections expired) within 30 s of the load ending.

The server runs on CPU 0, the load generator and the delay upstream on CPU 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/smoke_some_meats/"
MAX_IN_FLIGHT = 200  # the load generator's connections: beyond them, requests go out late
UPSTREAM_DELAY = 0.1
SETTLE_TIMEOUT = 30.0


# --- the delay upstream ------------------------------------------------------------------------


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    body = b"ok"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
    try:
        while True:
            request = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", request)
            if length:
                await reader.readexactly(int(length.group(1)))
            await asyncio.sleep(UPSTREAM_DELAY)
            writer.write(head % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_delay_upstream() -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0, backlog=4096)
    print(f"LISTENING http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


# --- processes ---------------------------------------------------------------------------------


class Child:
    """A subprocess whose output lines are collected; ``wait_for`` a regex."""

    def __init__(self, argv: list[str], env: dict[str, str], cpu: int | None) -> None:
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if cpu is not None:
            os.sched_setaffinity(self.popen.pid, {cpu})
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for m in map(regex.search, self.lines) if m][:1]
            return bool(found) or self.popen.poll() is not None

        with self._changed:
            self._changed.wait_for(seen, timeout=timeout)
        if not found:
            raise RuntimeError(f"no {pattern!r} from {self.popen.args}:\n" + "\n".join(self.lines))
        return found[0]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@contextmanager
def started(argv: list[str], env: dict[str, str], cpu: int | None) -> Iterator[Child]:
    child = Child(argv, env, cpu)
    try:
        yield child
    finally:
        child.stop()


# --- what the server holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float
    rss_kib: int
    threads: int
    fds: int


def sample(pid: int) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert rss is not None
    return Sample(
        at=time.monotonic(),
        rss_kib=int(rss.group(1)),
        threads=len(os.listdir(f"/proc/{pid}/task")),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
    )


async def settle(pid: int, *, threads: int, fds: int) -> Sample:
    """Wait (up to SETTLE_TIMEOUT) until the server holds no more than the given counts."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    now = sample(pid)
    while (now.threads > threads or now.fds > fds) and time.monotonic() < deadline:
        await asyncio.sleep(1)
        now = sample(pid)
    return now


async def idle(pid: int) -> Sample:
    """The server at rest: its fd count unchanged for 12 s, longer than two rounds of the
    upstream pool's keep-alive expiry (5 s), so idle upstream connections have closed."""
    history = [sample(pid)]
    deadline = time.monotonic() + 2 * SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        history.append(sample(pid))
        if len(history) >= 13 and len({s.fds for s in history[-13:]}) == 1:
            break
    return history[-1]


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Tally:
    ok: int = 0
    late: int = 0  # requests sent late: MAX_IN_FLIGHT were unanswered
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def _one(session: object, url: str, tally: Tally) -> None:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    started_at = time.monotonic()
    try:
        async with session.get(url) as response:
            await response.read()
            if response.status == 200:
                tally.ok += 1
                tally.latencies.append(time.monotonic() - started_at)
            else:
                tally.error(f"HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.error(type(exc).__name__)


async def closed_loop(url: str, *, concurrency: int, seconds: float) -> float:
    """Requests/s with ``concurrency`` clients, each sending its next request on the answer."""
    import aiohttp

    tally = Tally()
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            while time.monotonic() < stop_at:
                await _one(session, url, tally)

        started_at = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started_at
    return tally.ok / elapsed


async def open_loop(url: str, *, rate: float, seconds: float, tally: Tally) -> None:
    """``rate`` requests/s for ``seconds``, sent on schedule while fewer than MAX_IN_FLIGHT are
    unanswered; past that, each waits for an answer and goes out late (counted). A server that
    falls behind (a noisy neighbour on a shared machine) then gets less than the rate, not an
    ever-growing queue that would measure the load generator instead of the server."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=30)
    in_flight: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started_at = time.monotonic()
        sent = 0
        while (now := time.monotonic()) < started_at + seconds:
            for _ in range(int((now - started_at) * rate) - sent):
                sent += 1
                if slots.locked():
                    tally.late += 1
                await slots.acquire()
                task = asyncio.create_task(_one(session, url, tally))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _: slots.release())
            await asyncio.sleep(0.005)
        if in_flight:
            await asyncio.wait(set(in_flight))


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Report:
    capacity: float = 0.0
    rate: float = 0.0
    duration: float = 0.0
    baseline: Sample | None = None
    samples: list[Sample] = field(default_factory=list)
    warmup: float = 0.0
    after: Sample | None = None
    tally: Tally = field(default_factory=Tally)

    def rss_growth(self) -> float:
        loaded = [s for s in self.samples if s.at >= self.samples[0].at + self.warmup]
        first = statistics.median(s.rss_kib for s in loaded[:10])
        last = statistics.median(s.rss_kib for s in loaded[-10:])
        return last / first - 1

    def failures(self) -> list[str]:
        assert self.baseline is not None and self.after is not None
        failed = []
        if self.tally.error_count:
            failed.append(f"{self.tally.error_count} errors: {self.tally.errors}")
        if self.rss_growth() >= 0.10:
            failed.append(f"RSS grew {self.rss_growth():.1%} after the warm-up (target < 10%)")
        if self.after.threads > self.baseline.threads:
            failed.append(f"threads {self.after.threads} > baseline {self.baseline.threads}")
        if self.after.fds > self.baseline.fds:
            failed.append(f"fds {self.after.fds} > baseline {self.baseline.fds}")
        return failed

    def text(self) -> str:
        assert self.baseline is not None and self.after is not None
        rss = [s.rss_kib for s in self.samples]
        threads = [s.threads for s in self.samples]
        fds = [s.fds for s in self.samples]
        t = self.tally
        return "\n".join(
            [
                f"capacity (closed loop, c=100): {self.capacity:.0f} req/s on {PATH}",
                f"offered: {self.rate:.0f} req/s for {self.duration:.0f} s; answered 200: {t.ok}"
                f" ({t.ok / self.duration:.0f} req/s); sent late: {t.late};"
                f" errors: {t.error_count} {t.errors or ''}".rstrip(),
                f"latency: p50 {t.percentile(0.5) * 1000:.0f} ms,"
                f" p99 {t.percentile(0.99) * 1000:.0f} ms"
                f" (floor {UPSTREAM_DELAY * 1000:.0f} ms: two gathered 100 ms upstream calls)",
                f"RSS: idle {self.baseline.rss_kib / 1024:.1f} MiB; under load"
                f" {min(rss) / 1024:.1f}-{max(rss) / 1024:.1f} MiB;"
                f" growth after the {self.warmup:.0f} s warm-up {self.rss_growth():+.1%}"
                f" (target < 10%)",
                f"threads: idle {self.baseline.threads}, under load max {max(threads)},"
                f" after {self.after.threads}",
                f"fds: idle {self.baseline.fds}, under load max {max(fds)}, after {self.after.fds}",
            ]
        )


async def soak(url: str, pid: int, args: argparse.Namespace) -> Report:
    report = Report(warmup=min(30.0, args.duration / 5), duration=args.duration)
    target = url + PATH
    await closed_loop(target, concurrency=100, seconds=3)  # warm-up, thrown away
    report.capacity = await closed_loop(target, concurrency=100, seconds=args.capacity_seconds)
    report.rate = report.capacity * args.load
    report.baseline = await idle(pid)

    async def sampler() -> None:
        answered = 0
        while True:
            now = sample(pid)
            report.samples.append(now)
            if len(report.samples) % 30 == 0:  # progress, for reading a run that went wrong
                done = report.tally.ok + report.tally.error_count
                print(
                    f"  {len(report.samples):4d} s: {(done - answered) / 30:4.0f} req/s answered,"
                    f" RSS {now.rss_kib / 1024:.1f} MiB, threads {now.threads}, fds {now.fds},"
                    f" late {report.tally.late}, errors {report.tally.error_count}",
                    flush=True,
                )
                answered = done
            await asyncio.sleep(1)

    sampling = asyncio.create_task(sampler())
    try:
        await open_loop(target, rate=report.rate, seconds=args.duration, tally=report.tally)
    finally:
        sampling.cancel()
    report.after = await settle(pid, threads=report.baseline.threads, fds=report.baseline.fds)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds under load")
    parser.add_argument("--load", type=float, default=0.8, help="fraction of capacity offered")
    parser.add_argument("--capacity-seconds", type=float, default=8)
    parser.add_argument("--delay-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.delay_upstream:
        asyncio.run(_serve_delay_upstream())
        return 0

    two_cpus = len(os.sched_getaffinity(0)) >= 2
    server_cpu, load_cpu = (0, 1) if two_cpus else (None, None)
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    with started([sys.executable, __file__, "--delay-upstream"], env, load_cpu) as delay:
        upstream_url = delay.wait_for(r"LISTENING (\S+)").group(1)
        server_env = {
            **env,
            "UPSTREAM_URL": upstream_url,
            "HELLO_ASYNC_TIME_SCALE": "0",
            "HELLO_ASYNC_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        server_argv = [sys.executable, "-m", "uvicorn", "hello_async.asgi:application"]
        server_argv += ["--port", "0", "--no-access-log", "--loop", "uvloop", "--http", "httptools"]
        with started(server_argv, server_env, server_cpu) as server:
            url = server.wait_for(r"Uvicorn running on (http://\S+)").group(1)
            report = asyncio.run(soak(url, server.popen.pid, args))
    print(report.text())
    failed = report.failures()
    for failure in failed:
        print(f"FAILED: {failure}")
    print("soak: " + ("FAILED" if failed else "all targets met"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
