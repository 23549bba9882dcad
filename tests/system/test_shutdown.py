"""Shutdown and disconnects, on the real server (``hello-async serve`` in a subprocess).

* SIGTERM under load: in-flight requests shorter than the grace period complete with 200,
  background work drains, the process and its local httpbin exit within the grace plus 1 s.
* SIGTERM with requests that take most of the grace and background jobs that would outlive it:
  the jobs get what is left of the grace, not a grace of their own (hello_async.ops.shutdown),
  so the process still exits within the grace plus 1 s.
* SIGKILL: the local httpbin exits by itself, and a restart on the same port starts clean.
* A client that disconnects mid fan-out: the upstream calls are cancelled, none is orphaned.
* SIGTERM with consoles and boards open (streams with no end of their own): they end with a last
  ``closing`` event, and the seed's command exits instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core.handlers.asgi import ASGIHandler

from hello_async import upstream
from hello_async.jobs import background
from hello_async.ops import lifespan
from tests.live.visitor import Visitor
from tests.support.faultproxy import FaultProxy, Latency, Pass
from tests.support.parts import using_upstream
from tests.support.servers import Process, http_scope, uvicorn_server

GRACE = 3.0  # HELLO_ASYNC_SHUTDOWN_GRACE
SCALE = 1.0  # HELLO_ASYNC_TIME_SCALE: /smoke_some_meats/ takes 2 s, a background job 5 s
IN_FLIGHT = 100
JOBS = 50


def serve(tmp_path: Path, *, port: int = 0, **env: str) -> tuple[Process, str]:
    environment = {k: v for k, v in os.environ.items() if k != "UPSTREAM_URL"}
    process = Process(
        [sys.executable, "-m", "hello_async.cli", "serve", "--port", str(port)],
        env={
            **environment,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "HELLO_ASYNC_SHUTDOWN_GRACE": f"{GRACE:g}",
            "HELLO_ASYNC_TIME_SCALE": f"{SCALE:g}",
            # The local httpbin is the one child here; the task worker's exits are tested in
            # tests/work/test_worker_process.py.
            "HELLO_ASYNC_SERVE_TASK_WORKERS": "0",
            **env,
        },
    )
    return process, process.wait_for(r"Uvicorn running on (http://\S+)").group(1)


def local_upstream_children(pid: int) -> list[int]:
    """The local httpbin processes whose parent is ``pid`` (serve also starts task workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue  # gone meanwhile
            # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
            if (
                int(stat.rsplit(")", 1)[1].split()[1]) == pid
                and b"hello_async.upstream.local_server" in argv
            ):
                found.append(int(entry.name))
    return found


def wait_exited(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to exit (a pidfd polls readable on exit)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def wait_count(process: Process, pattern: str, count: int, timeout: float) -> None:
    """Wait until ``count`` lines of the output match ``pattern``."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while True:
        lines = list(process.lines)
        if sum(1 for line in lines if regex.search(line)) >= count:
            return
        process.wait_for(pattern, start=len(lines), timeout=max(0.0, deadline - time.monotonic()))


@pytest.mark.server
def test_sigterm_under_load_completes_requests_drains_work_and_exits_in_time(
    tmp_path: Path,
) -> None:
    process, url = serve(tmp_path)
    try:
        upstream_children = local_upstream_children(process.popen.pid)
        assert len(upstream_children) == 1, upstream_children
        finished: list[float] = []
        statuses: list[int | str] = []

        async def load() -> None:
            limits = httpx.Limits(max_connections=IN_FLIGHT + JOBS)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

                async def get(path: str) -> None:
                    try:
                        response = await client.get(path)
                    except httpx.HTTPError as exc:
                        statuses.append(type(exc).__name__)
                    else:
                        statuses.append(response.status_code)
                    finished.append(time.monotonic())

                await asyncio.gather(*(get("/async/") for _ in range(JOBS)))
                # The jobs have counted to 3 (2 s of work left each) when the requests start.
                await asyncio.to_thread(wait_count, process, r"^INFO:\s+3$", JOBS, 30)
                await asyncio.gather(*(get("/smoke_some_meats/") for _ in range(IN_FLIGHT)))

        client_thread = threading.Thread(target=asyncio.run, args=(load(),))
        client_thread.start()
        try:
            wait_count(process, r"Getting smokeables\.\.\.", IN_FLIGHT, timeout=30)
            sent = time.monotonic()
            process.popen.send_signal(signal.SIGTERM)
            exit_code = process.popen.wait(timeout=GRACE + 10)
            exited_after = time.monotonic() - sent
        finally:
            client_thread.join(timeout=30)

        print(f"SIGTERM with {IN_FLIGHT} requests in flight: exited after {exited_after:.2f} s")
        assert statuses == [200] * (JOBS + IN_FLIGHT)
        assert sum(1 for at in finished if at > sent) == IN_FLIGHT  # all were in flight
        process.wait_for(r"Background work drained: 50 done, 0 failed, 0 cancelled", timeout=1)
        assert exit_code == 0
        assert exited_after <= GRACE + 1
        assert all(wait_exited(pid, timeout=0) for pid in upstream_children)
    finally:
        process.terminate()


LONG_SCALE = 1.25  # /smoke_some_meats/ takes 2.5 s of the 3 s grace, a background job 6.25 s


@pytest.mark.server
def test_sigterm_shares_one_grace_between_requests_and_background_work(tmp_path: Path) -> None:
    process, url = serve(tmp_path, HELLO_ASYNC_TIME_SCALE=f"{LONG_SCALE:g}")
    try:
        statuses: list[int | str] = []

        async def load() -> None:
            limits = httpx.Limits(max_connections=IN_FLIGHT + JOBS)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

                async def get(path: str) -> None:
                    try:
                        response = await client.get(path)
                    except httpx.HTTPError as exc:
                        statuses.append(type(exc).__name__)
                    else:
                        statuses.append(response.status_code)

                # The jobs start (each answers at once), then the requests that keep Uvicorn
                # waiting for most of the grace.
                await asyncio.gather(*(get("/async/") for _ in range(JOBS)))
                await asyncio.gather(*(get("/smoke_some_meats/") for _ in range(IN_FLIGHT)))

        client_thread = threading.Thread(target=asyncio.run, args=(load(),))
        client_thread.start()
        try:
            wait_count(process, r"Getting smokeables\.\.\.", IN_FLIGHT, timeout=30)
            sent = time.monotonic()
            process.popen.send_signal(signal.SIGTERM)
            exit_code = process.popen.wait(timeout=2 * GRACE + 10)
            exited_after = time.monotonic() - sent
        finally:
            client_thread.join(timeout=30)

        budget = float(process.wait_for(r"Waiting up to ([\d.]+) s for 50 background").group(1))
        print(
            f"SIGTERM, requests of 2.5 s and jobs of 6.25 s: the drain got {budget:g} s, "
            f"exited after {exited_after:.2f} s"
        )
        assert statuses == [200] * (JOBS + IN_FLIGHT)
        assert exit_code == 0
        # Within one grace (plus 1 s), not two: the drain got what the requests left of it.
        assert exited_after <= GRACE + 1
        assert budget <= GRACE - 2
        process.wait_for(r"Background work drained: 0 done, 0 failed, 50 cancelled", timeout=1)
    finally:
        process.terminate()


@pytest.mark.server
def test_after_sigkill_the_local_upstream_exits_and_a_restart_starts_clean(
    tmp_path: Path,
) -> None:
    process, url = serve(tmp_path)
    try:
        port = int(url.rsplit(":", 1)[1])
        upstream_children = local_upstream_children(process.popen.pid)
        assert len(upstream_children) == 1, upstream_children
        assert httpx.get(url + "/async/", timeout=10).status_code == 200  # work to lose
        process.popen.kill()
        process.popen.wait(timeout=10)
        # The httpbin child watches its parent and exits on its own.
        assert wait_exited(upstream_children[0], timeout=10)
    finally:
        process.terminate()

    restarted, restarted_url = serve(tmp_path, port=port)
    try:
        assert restarted_url == url
        assert httpx.get(url + "/smoke_some_meats/", timeout=10).status_code == 200
        assert httpx.post(url + "/smoke_runs/", timeout=10).status_code == 201
        assert restarted.terminate(timeout=GRACE + 10) == 0
        restarted.wait_for(r"Background work drained: 0 done, 0 failed, 0 cancelled", timeout=1)
    finally:
        restarted.terminate()


# --- a client that goes away mid fan-out ----------------------------------------------------------


@pytest.fixture
def slow_proxy(httpbin_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(httpbin_url) as proxy:
        proxy.set(Latency(ms=60_000))  # the upstream will not answer while the test runs
        yield proxy
        proxy.set(Pass())


@pytest.mark.server
def test_client_disconnect_mid_fan_out_cancels_the_upstream_calls(
    tmp_path: Path, slow_proxy: FaultProxy
) -> None:
    process, url = serve(
        tmp_path, UPSTREAM_URL=slow_proxy.url, UPSTREAM_TIMEOUT="60", HELLO_ASYNC_TIME_SCALE="0"
    )
    try:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as client:
            client.sendall(b"GET /smoke_some_meats/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            # Both branches of the fan-out are waiting on the upstream.
            slow_proxy.wait_until(lambda now: now.requests == 2)
        # The client is gone: both upstream calls are cancelled, their connections closed long
        # before the upstream would have answered (each reads for nobody for at most
        # UPSTREAM_DRAIN_CANCELLED, 0.5 s, then closes: the answer takes 60 s).
        after = slow_proxy.wait_until(lambda now: now.abandoned == 2 and now.client_open == 0)
        assert after.upstream_open == 0
        assert "Returning smokeable" not in process.output()
        assert process.terminate(timeout=GRACE + 10) == 0
        process.wait_for(r"Background work drained: 0 done, 0 failed, 0 cancelled", timeout=1)
    finally:
        process.terminate()


@pytest.fixture
def slow_upstream(slow_proxy: FaultProxy) -> Iterator[upstream.Upstream]:
    """The process's upstream client, calling through the slow proxy."""
    with using_upstream(upstream.Upstream(base_url=slow_proxy.url, timeout=60)) as client:
        yield client


@pytest.mark.server
@pytest.mark.asyncio
async def test_client_disconnect_in_process_leaves_no_task_and_no_connection(
    slow_proxy: FaultProxy, slow_upstream: upstream.Upstream, owner: background.BackgroundWork
) -> None:
    """Django's ASGI handler itself, on the test's loop: the tasks are counted too."""
    await lifespan.astartup()
    try:
        application = ASGIHandler()
        tasks_before = asyncio.all_tasks()
        gone = asyncio.Event()
        sent: list[dict[str, object]] = []
        request: list[dict[str, object]] = [{"type": "http.request", "body": b""}]

        async def receive() -> dict[str, object]:
            if request:
                return request.pop()
            await gone.wait()  # the client is still there until the test says otherwise
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = http_scope("/smoke_some_meats/", host=b"testserver")
        handling = asyncio.create_task(application(scope, receive, send))
        await asyncio.to_thread(slow_proxy.wait_until, lambda now: now.requests == 2)
        gone.set()
        await asyncio.wait_for(handling, timeout=10)

        assert sent == []  # no response: the view was cancelled, not answered
        assert asyncio.all_tasks() == tasks_before
        # The client side of the proxy sees the cancelled calls' sockets close a moment later:
        # wait for it (a connection left open would time this out and fail).
        after = await asyncio.to_thread(
            slow_proxy.wait_until,
            lambda now: now.abandoned == 2 and now.upstream_open == 0 and now.client_open == 0,
        )
        assert after.requests == 2
        assert owner.counts().pending == 0
    finally:
        await lifespan.ashutdown()


def _open_stream(base: str, path: str, headers: str = "") -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    seen = b""
    while b": stream open" not in seen:
        chunk = sock.recv(4096)
        assert chunk, seen
        seen += chunk
    return sock


def _read_to_end(sock: socket.socket) -> bytes:
    seen = b""
    while chunk := sock.recv(4096):
        seen += chunk
    sock.close()
    return seen


def test_sigterm_ends_open_consoles_and_boards_so_the_seed_command_exits(
    tmp_path: Path, httpbin_url: str
) -> None:
    # The seed's own command: Uvicorn without --timeout-graceful-shutdown waits for every
    # connection; a console or board left open in a browser would keep it up for ever.
    process, base = uvicorn_server(
        {"UPSTREAM_URL": httpbin_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    )
    try:
        visitor = Visitor(base)  # a console's stream comes with the cookie of its token
        cookie = f"Cookie: hello_async_console={visitor.client.cookies['hello_async_console']}\r\n"
        visitor.close()
        console = _open_stream(base, f"/console/events/?session={visitor.token}", cookie)
        board = _open_stream(base, "/smoke_orders/board/events/")
        started = time.monotonic()
        process.popen.send_signal(signal.SIGTERM)
        # Uvicorn re-raises the signal once it has shut down; a kill after the wait would be -9.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 10, process.output()
        for sock in (console, board):
            assert b'event: closing\ndata: {"reason":"the server is shutting down"}' in (
                _read_to_end(sock)
            )
    finally:
        process.terminate()
