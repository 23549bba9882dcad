"""Real processes for integration tests: a command whose output is read line by line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Process:
    """A child process with its merged stdout/stderr collected as lines."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("DJANGO_SETTINGS_MODULE", None)  # the project's settings, not the tests'
        self.popen = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, *, timeout: float = 30.0, start: int = 0) -> re.Match[str]:
        """Wait until a line from index ``start`` on matches ``pattern``; returns the match."""
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            for line in self.lines[start:]:
                match = regex.search(line)
                if match:
                    found.append(match)
                    return True
            return self.popen.poll() is not None and not self._reader.is_alive()

        with self._changed:
            self._changed.wait_for(seen, timeout=timeout)
        if not found:
            raise AssertionError(
                f"no line matching {pattern!r} within {timeout} s; output:\n" + self.output()
            )
        return found[0]

    def index(self, pattern: str) -> int:
        regex = re.compile(pattern)
        for i, line in enumerate(self.lines):
            if regex.search(line):
                return i
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + self.output())

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit (SIGKILL after ``timeout``); returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit (SIGKILL after ``timeout``); returns the exit status."""
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
            self._reader.join(timeout=5)
            if self.popen.stdout:
                self.popen.stdout.close()


def uvicorn_server(env: dict[str, str]) -> tuple[Process, str]:
    """``uvicorn hello_async.asgi:application`` on a free port; returns it and its base URL."""
    process = Process(
        [sys.executable, "-m", "uvicorn", "hello_async.asgi:application", "--port", "0"],
        env=env,
    )
    match = process.wait_for(r"Uvicorn running on (http://\S+)")
    return process, match.group(1)


def http_scope(path: str, query: bytes = b"", *, host: bytes = b"localhost") -> dict[str, object]:
    """An ASGI HTTP scope for a GET of ``path``, for tests that call an application directly."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", host)],
        "client": ("127.0.0.1", 50000),
        "server": (host.decode(), 80),
    }
