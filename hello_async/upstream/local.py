"""A local httpbin on loopback: the article's upstream (https://httpbin.org), offline.

:class:`LocalUpstream` runs ``python -m hello_async.upstream.local_server`` (httpbin on a free
port, a module of its own that this process never imports) as a child process and reads the URL
it prints; :func:`ensure_started` keeps one per process for settings without ``UPSTREAM_URL``,
stopped at exit. httpbin (and Flask under it) is in the ``local-upstream`` dependency group, which a
production install leaves out: there, set ``UPSTREAM_URL``.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import subprocess
import sys
import threading
from types import TracebackType

logger = logging.getLogger(__name__)

READY_PREFIX = "LISTENING "
MISSING_HTTPBIN = (
    "the local httpbin cannot start: httpbin is not installed. It is in the 'local-upstream' "
    "dependency group, which a production install leaves out: set UPSTREAM_URL to the "
    "upstream to call, or install the group (uv sync --group local-upstream; uv run installs it)."
)


class LocalUpstreamError(RuntimeError):
    pass


class LocalUpstream:
    """One httpbin child process on 127.0.0.1. ``with LocalUpstream() as up: up.url``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 30.0):
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.url: str | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> str:
        if self.url is not None:
            return self.url
        if importlib.util.find_spec("httpbin") is None:
            raise LocalUpstreamError(MISSING_HTTPBIN)
        cmd = [sys.executable, "-m", "hello_async.upstream.local_server"]
        cmd += ["--host", self.host, "--port", str(self.port), "--parent", str(os.getpid())]
        self._process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        assert self._process.stdout is not None
        # The child prints one line once bound (or dies); a timer kills it if it hangs.
        timer = threading.Timer(self.start_timeout, self._process.kill)
        timer.start()
        try:
            line = self._process.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise LocalUpstreamError(f"the local httpbin did not start (it printed {line!r})")
        self.url = line[len(READY_PREFIX) :].strip()
        logger.info("Local upstream (httpbin) serving at %s", self.url)
        return self.url

    def stop(self) -> None:
        process, self._process = self._process, None
        self.url = None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()

    def __enter__(self) -> LocalUpstream:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_process_upstream: LocalUpstream | None = None
_lock = threading.Lock()


def ensure_started() -> str:
    """URL of this process's local httpbin, started on first call and stopped at exit."""
    global _process_upstream
    with _lock:
        if _process_upstream is None:
            upstream = LocalUpstream()
            upstream.start()
            atexit.register(upstream.stop)
            _process_upstream = upstream
            logger.info("UPSTREAM_URL is not set: using the local httpbin at %s", upstream.url)
        assert _process_upstream.url is not None
        return _process_upstream.url


def stop_started() -> None:
    """Stop the httpbin that ensure_started() started, if any."""
    global _process_upstream
    with _lock:
        upstream, _process_upstream = _process_upstream, None
    if upstream is not None:
        upstream.stop()
