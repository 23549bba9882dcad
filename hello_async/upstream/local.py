"""A local httpbin on loopback: the article's upstream (https://httpbin.org), offline.

``python -m hello_async.upstream.local`` serves the ``httpbin`` package's app with Werkzeug's
threaded server on a free port and prints ``LISTENING <url>`` once the socket is bound.
:class:`LocalUpstream` runs that as a child process; :func:`ensure_started` keeps one per
process for settings without ``UPSTREAM_URL``, stopped at exit. The child also watches its
parent and exits when the parent is gone, so a SIGKILLed server leaves no orphan behind.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from types import TracebackType

logger = logging.getLogger(__name__)

READY_PREFIX = "LISTENING "


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
        cmd = [sys.executable, "-m", "hello_async.upstream.local"]
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


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve httpbin on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent", type=int, default=0, help="exit when this process is gone")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("httpbin").setLevel(logging.ERROR)  # "flasgger is not installed"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
    from httpbin import app
    from werkzeug.serving import make_server

    server = make_server(args.host, args.port, app, threaded=True)
    if args.parent:
        threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    print(f"{READY_PREFIX}http://{args.host}:{server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
