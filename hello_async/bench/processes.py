"""Child processes of the bench: where they run (CPU pinning), starting them, watching them.

The server under test gets one CPU (``taskset -c <cpu>``), the load generator and the delay
upstream the other, when the machine has two CPUs and taskset; otherwise nothing is pinned and
the report says so. While load runs, a monitor thread samples the server's process tree from
``/proc``: resident memory (VmRSS, summed over the tree: Gunicorn's master and workers) and
thread count (``/proc/PID/task``), keeping the peaks.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
PROC = Path("/proc")


class ServerError(RuntimeError):
    """A child server did not start, or died."""


@dataclass(frozen=True)
class CpuPlan:
    """Which CPU runs the server and which the load (None: not pinned)."""

    server: int | None
    load: int | None

    @classmethod
    def detect(cls) -> CpuPlan:
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover (not Linux)
            return cls(None, None)
        if len(cpus) < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(server=cpus[0], load=cpus[1])

    def prefix(self, cpu: int | None) -> list[str]:
        return [] if cpu is None else ["taskset", "-c", str(cpu)]

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (one CPU or no taskset): server and load share the CPUs"
        return f"server on CPU {self.server}; load generator and upstream on CPU {self.load}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Child:
    """A child process with its output going to a log file (read on failure)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        cwd: Path = ROOT,
    ):
        self.name = name
        self.log_path = log
        self._log = log.open("w")
        self.popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


def wait_http_ready(child: Child, url: str, *, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200 (the server's lifespan has run), or fail."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                raise ServerError(
                    f"{child.name} exited at startup (log: {child.log_path}):\n"
                    f"{child.output_tail(8)}"
                )
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise ServerError(f"{child.name} not ready within {timeout:g} s:\n{child.output_tail()}")


def start_delay_server(plan: CpuPlan, *, delay_ms: float, log: Path) -> tuple[Child, str]:
    """The upstream, on the load CPU; returns it and its base URL."""
    port = free_port()
    argv = [*plan.prefix(plan.load), sys.executable, "-m", "hello_async.bench.delay_server"]
    argv += ["--port", str(port), "--delay-ms", f"{delay_ms:g}", "--parent", str(os.getpid())]
    child = Child("delay server", argv, env={}, log=log)
    url = f"http://127.0.0.1:{port}"
    wait_http_ready(child, f"{url}/delay/0")
    return child, url


# --- resources of a process tree -------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (via /proc/PID/task/TID/children)."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        try:
            for task in (PROC / str(current) / "task").iterdir():
                children = (task / "children").read_text().split()
                found.extend(int(child) for child in children)
        except OSError:
            continue
    return found


def rss_kb(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """The resident memory of a process and its children, in MB."""
    return sum(rss_kb(p) for p in process_tree(pid)) / 1024


def thread_count(pid: int) -> int:
    try:
        return len(list((PROC / str(pid) / "task").iterdir()))
    except OSError:
        return 0


class Monitor:
    """Samples a process tree's RSS and thread count every ``interval`` s; keeps the peaks."""

    def __init__(self, pid: int, *, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)

    def sample(self) -> None:
        pids = process_tree(self.pid)
        self.peak_rss_kb = max(self.peak_rss_kb, sum(rss_kb(p) for p in pids))
        self.peak_threads = max(self.peak_threads, sum(thread_count(p) for p in pids))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Monitor:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / 1024
