"""Runtime limits over a real Uvicorn (uvloop): idle and slow clients, oversized bodies, stalls."""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import Process

pytestmark = pytest.mark.server

MAX_BODY = 10_000
KEEP_ALIVE = 1  # --timeout-keep-alive, seconds


def uvicorn(env: dict[str, str], *args: str) -> tuple[Process, str]:
    process = Process(
        [sys.executable, "-m", "uvicorn", "hello_async.asgi:application", "--port", "0", *args],
        env=env,
    )
    match = process.wait_for(r"Uvicorn running on (http://\S+)")
    return process, match.group(1)


@pytest.fixture(scope="module")
def server(httpbin_url: str) -> Iterator[tuple[Process, str]]:
    env = {
        "UPSTREAM_URL": httpbin_url,
        "HELLO_ASYNC_TIME_SCALE": "0.1",  # a burn of 500 ms
        "HELLO_ASYNC_MAX_BODY_BYTES": str(MAX_BODY),
    }
    process, url = uvicorn(env, "--loop", "uvloop", "--timeout-keep-alive", str(KEEP_ALIVE))
    try:
        yield process, url
    finally:
        process.terminate()


def address(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    assert parsed.host and parsed.port
    return parsed.host, parsed.port


def connect(url: str) -> socket.socket:
    return socket.create_connection(address(url), timeout=10)


def read_head(sock: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")


def is_closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False


# --- idle and slow clients ------------------------------------------------------------------


def test_idle_and_slow_header_clients_do_not_starve_legitimate_requests(
    server: tuple[Process, str],
) -> None:
    _, url = server
    idle = [connect(url) for _ in range(200)]  # connected, never a byte
    slow = [connect(url) for _ in range(5)]
    stop = threading.Event()

    def drip() -> None:
        # Slow-header clients: one byte of an endless header every 0.2 s, until told to stop.
        for sock in slow:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        while not stop.wait(0.2):
            for sock in slow:
                sock.sendall(b"a")

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        started = time.monotonic()
        with httpx.Client(base_url=url, timeout=5) as client:
            for _ in range(20):
                response = client.get("/", headers={"Connection": "close"})
                assert response.status_code == 200
                assert response.text == "Hello, async Django!"
        assert time.monotonic() - started < 10

        # A connection idle after a response is closed after --timeout-keep-alive...
        keep_alive = connect(url)
        keep_alive.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_head(keep_alive).startswith("HTTP/1.1 200")
        keep_alive.settimeout(KEEP_ALIVE * 5)
        while keep_alive.recv(4096):  # the rest of the body, then EOF (TimeoutError if never)
            pass
        keep_alive.close()
        # ...but Uvicorn has no header deadline: the silent and the dripping connections are
        # all still open, past the keep-alive timeout. That gap is the front proxy's to close.
        assert not any(is_closed_by_peer(sock) for sock in idle + slow)
    finally:
        stop.set()
        dripper.join(timeout=5)
        for sock in idle + slow:
            sock.close()


def test_limit_concurrency_counts_idle_connections(httpbin_url: str) -> None:
    """--limit-concurrency is a connection cap: idle clients fill it and real ones get 503."""
    process, url = uvicorn({"UPSTREAM_URL": httpbin_url}, "--limit-concurrency", "20")
    idle = [connect(url) for _ in range(25)]
    try:
        with httpx.Client(base_url=url, timeout=5) as client:
            deadline = time.monotonic() + 10
            status = client.get("/").status_code
            while status != 503 and time.monotonic() < deadline:  # until all are accepted
                status = client.get("/").status_code
        assert status == 503
    finally:
        for sock in idle:
            sock.close()
        process.terminate()


# --- oversized bodies -------------------------------------------------------------------------


def test_declared_oversized_body_gets_413_before_it_is_sent(server: tuple[Process, str]) -> None:
    _, url = server
    with connect(url) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\n"
            + b"x" * 1000  # and not one byte more: the answer comes anyway
        )
        head = read_head(sock)
    assert head.startswith("HTTP/1.1 413")
    assert "connection: close" in head.lower()


def test_chunked_oversized_body_gets_413(server: tuple[Process, str]) -> None:
    _, url = server

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 1000 + 5):
            yield b"x" * 1000

    with httpx.Client(base_url=url, timeout=10) as client:
        response = client.post("/smoke_runs/", content=chunks())
    assert response.status_code == 413
    assert response.text == f"Request body too large: the limit is {MAX_BODY} bytes.\n"


# --- the loop monitor under uvloop -----------------------------------------------------------


def test_burn_some_meats_is_reported_while_it_blocks_the_loop(server: tuple[Process, str]) -> None:
    process, url = server
    start = len(process.lines)
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/burn_some_meats/").status_code == 200
        process.wait_for(r"Event loop ran again after a stall", start=start, timeout=10)
        metrics = client.get("/metrics").text
    warning = process.index(r"Event loop stalled: blocked for .*GET /burn_some_meats/")
    access = process.index(r'"GET /burn_some_meats/ HTTP/1.1" 200')
    assert start <= warning < access  # logged during the stall, before the response went out
    stalls = re.search(r"^hello_async_loop_stalls_total (\S+)$", metrics, re.MULTILINE)
    assert stalls and float(stalls.group(1)) >= 1
