"""/smoke_some_meats/live/ over a real Uvicorn: the lines as they happen, then the answer.

No clock decides these tests (the server's and the client's run in different processes on a
shared machine): the upstream the server calls is held at a gate the test opens, so "a line
arrived before the work could have ended" is shown by the order of events, not by timestamps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.live.visitor import Visitor
from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server

SCALE = 0.2  # the smokables' 2 s wait takes 0.4 s; the flavor's 1 s takes 0.2 s


class Gate:
    """Holds the upstream's answers while closed; counts the calls it holds."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self._changed = threading.Condition()
        self.held = 0

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def pass_through(self) -> None:  # in the upstream's thread, one call
        with self._changed:
            self.held += 1
            self._changed.notify_all()
        self._open.wait(20)  # a test that never opens it: the server's call ends anyway
        with self._changed:
            self.held -= 1
            self._changed.notify_all()

    def wait_held(self, calls: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.held == calls, timeout=10), self.held


@pytest.fixture(scope="module")
def gate() -> Iterator[tuple[Gate, str]]:
    """A loopback upstream whose answers wait at a gate (open unless a test closes it)."""
    gate = Gate()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the project's client expects

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            gate.pass_through()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gate, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        gate.open()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def live(gate: tuple[Gate, str]) -> Iterator[tuple[Process, str]]:
    process, url = uvicorn_server(
        {
            "UPSTREAM_URL": gate[1],
            "HELLO_ASYNC_TIME_SCALE": str(SCALE),
            "HELLO_ASYNC_SSE_MAX_SUBSCRIBERS": "3",
            "HELLO_ASYNC_SSE_HEARTBEAT": "0.2",
            "HELLO_ASYNC_LOG_FORMAT": "json",
        }
    )
    try:
        yield process, url
    finally:
        process.terminate()


@pytest.fixture
def held(gate: tuple[Gate, str]) -> Iterator[Gate]:
    """The upstream's gate, closed for the test."""
    gate[0].close()
    try:
        yield gate[0]
    finally:
        gate[0].open()


def events(response: httpx.Response) -> Iterator[tuple[str, str, float]]:
    """(name, data, arrival time) of each event, as it arrives; comments skipped."""
    name, data = "message", []
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif line == "" and data:
            yield name, "\n".join(data), time.monotonic()
            name, data = "message", []


def test_the_lines_arrive_as_they_happen_then_the_answer(
    live: tuple[Process, str], held: Gate
) -> None:
    _, url = live
    with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["cache-control"] == "no-cache"
        stream = events(response)
        got = [next(stream), next(stream)]
        # Both upstream calls are in flight at once (the gather), and held: the work cannot
        # have ended, yet its first lines are here. Sent as they happened, not at the end.
        held.wait_held(2)
        held.open()
        got += list(stream)
    names = [name for name, _, _ in got]
    texts = [data for _, data, _ in got]
    assert names == ["line"] * 22 + ["result"]  # every line, then the answer
    assert texts[:2] == ["Getting smokeables...", "Getting flavor..."]
    assert sorted(texts[2:4]) == ["Returning flavor", "Returning smokeable"]
    assert texts[4:7] == ["Smoking some ribs...", texts[5], "Ribs smoked."]
    assert texts[-1].startswith("Smoked 6 meats with ")


def metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def in_flight(url: str) -> float:
    return metric(url, "hello_async_requests_in_flight")


def wait_streams_closed(url: str) -> None:
    """Until the streams of earlier tests have given their places back."""
    deadline = time.monotonic() + 5
    while metric(url, "hello_async_sse_streams_open") > 0:
        assert time.monotonic() < deadline, "streams still open"
        time.sleep(0.02)


def test_a_client_that_leaves_stops_the_work(live: tuple[Process, str], held: Gate) -> None:
    process, url = live
    with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
        request_id = response.headers["x-request-id"]
        first = next(events(response))
        assert first[1] == "Getting smokeables..."
    # Gone while the upstream holds the work: it is cancelled, and the request is no longer in
    # flight (the one in flight is /metrics itself).
    deadline = time.monotonic() + 5
    while in_flight(url) > 1:
        assert time.monotonic() < deadline, "the stream is still in flight"
        time.sleep(0.02)
    assert metric(url, "hello_async_sse_streams_open") == 0
    held.open()  # work that was not cancelled would now go on to "Returning smokeable"
    # A whole stream sent after it: by its end, the first request's work would have ended too,
    # and its lines are written in the order they were logged.
    with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
        later = response.headers["x-request-id"]
        assert [name for name, _, _ in events(response)][-1] == "result"
    process.wait_for(rf'"request_id": ?"{later}".*Returning smokeable')
    mine = [
        json.loads(line)["message"]
        for line in process.lines
        if line.startswith("{") and json.loads(line)["request_id"] == request_id
    ]
    assert "Getting smokeables..." in mine and "Returning smokeable" not in mine


def test_a_full_feed_gets_503_with_retry_after_and_the_other_feeds_stay_open(
    live: tuple[Process, str],
) -> None:
    _, url = live
    wait_streams_closed(url)
    refused = metric(url, "hello_async_sse_refused_total")
    visitors = [Visitor(url) for _ in range(4)]
    try:
        with (
            visitors[0].stream() as one,
            visitors[1].stream() as two,
            visitors[2].stream() as three,
        ):
            assert {one.status_code, two.status_code, three.status_code} == {200}
            turned_away = visitors[3].client.get(f"/console/events/?session={visitors[3].token}")
            assert turned_away.status_code == 503
            assert turned_away.headers["retry-after"] == "5"
            assert "Too many live streams" in turned_away.text
            # The consoles are full; the live view and the board each have places of their own.
            with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
                assert response.status_code == 200
                assert [name for name, _, _ in events(response)][-1] == "result"
            with httpx.stream("GET", url + "/smoke_orders/board/events/", timeout=30) as board:
                assert board.status_code == 200
                assert metric(url, "hello_async_sse_streams_open") == 4
        assert metric(url, "hello_async_sse_refused_total") == refused + 1
        # Closed streams give their places back.
        deadline = time.monotonic() + 5
        while visitors[3].client.get(f"/console/events/?session=x{'y' * 21}").status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        for visitor in visitors:
            visitor.close()


def test_an_idle_stream_gets_heartbeats(live: tuple[Process, str]) -> None:
    _, url = live
    visitor = Visitor(url)
    try:
        with visitor.stream() as stream:
            lines = stream.iter_lines()
            assert next(lines) == ": stream open"
            assert [next(lines) for _ in range(4)] == ["", "event: ready", "data: {}", ""]
            seen = [next(lines) for _ in range(4)]  # then nothing happens: heartbeats
    finally:
        visitor.close()
    assert seen.count(": heartbeat") == 2


def test_head_answers_the_headers_and_takes_no_place(live: tuple[Process, str]) -> None:
    _, url = live
    wait_streams_closed(url)
    visitors = [Visitor(url) for _ in range(4)]
    last = visitors[3]
    try:
        with (
            visitors[0].stream() as one,
            visitors[1].stream() as two,
            visitors[2].stream() as three,
        ):
            assert {one.status_code, two.status_code, three.status_code} == {200}
            # Every console place taken: a GET is refused, a HEAD still answers (no stream).
            path = f"/console/events/?session={last.token}"
            assert last.client.get(path).status_code == 503
            for head in (
                last.client.head(path),
                httpx.head(url + "/smoke_some_meats/live/", timeout=10),
                httpx.head(url + "/smoke_orders/board/events/", timeout=10),
            ):
                assert head.status_code == 200, head.url
                assert head.headers["content-type"].startswith("text/event-stream")
                assert head.headers["x-accel-buffering"] == "no"
                assert head.content == b""
    finally:
        for visitor in visitors:
            visitor.close()


def test_events_have_ids_and_a_finished_runs_last_id_gets_204(live: tuple[Process, str]) -> None:
    _, url = live
    with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
        run = response.headers["x-request-id"]
        ids = [line[len("id: ") :] for line in response.iter_lines() if line.startswith("id: ")]
    assert ids[:3] == [f"{run}:1", f"{run}:2", f"{run}:3"]
    assert len(ids) == 23 and ids[-1] == f"{run}:end"  # the result's: the run is over
    # EventSource reconnects when a stream ends, with the last id it saw: no new smoke.
    again = httpx.get(url + "/smoke_some_meats/live/", headers={"Last-Event-ID": ids[-1]})
    assert again.status_code == 204 and again.content == b""
    # A run left mid-way was cancelled with its client: its id starts a new one.
    with httpx.stream(
        "GET", url + "/smoke_some_meats/live/", headers={"Last-Event-ID": ids[5]}, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["x-request-id"] != run


@pytest.fixture(scope="module")
def short_lived(httpbin_url: str) -> Iterator[str]:
    """A server whose endless streams live half a second."""
    process, url = uvicorn_server({"UPSTREAM_URL": httpbin_url, "HELLO_ASYNC_SSE_MAX_AGE": "0.5"})
    try:
        yield url
    finally:
        process.terminate()


def test_an_endless_stream_ends_at_its_age_with_a_retry_hint(short_lived: str) -> None:
    visitor = Visitor(short_lived)
    try:
        with visitor.stream() as console:
            lines = list(console.iter_lines())  # to its end: the server closes it
        with httpx.stream("GET", short_lived + "/smoke_orders/board/events/", timeout=30) as board:
            board_lines = list(board.iter_lines())
    finally:
        visitor.close()
    for got in (lines, board_lines):
        last = [line for line in got if line][-1]
        assert last.startswith("retry: ") and 1000 <= int(last.split()[1]) <= 3000
    wait_streams_closed(short_lived)  # their places given back


def test_in_production_the_error_event_names_what_failed_not_the_upstream() -> None:
    """The stream's error event is told as the middleware tells a 502: the upstream's address
    and status go to the log, a stranger reads only what failed."""
    from tests.test_settings import STRONG_KEY

    process, url = uvicorn_server(
        {
            "UPSTREAM_URL": "http://127.0.0.1:9/",  # the discard port: nothing listens there
            "DJANGO_SECRET_KEY": STRONG_KEY,
            "DJANGO_ALLOWED_HOSTS": "*",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "HELLO_ASYNC_TIME_SCALE": str(SCALE),
        }
    )
    try:
        with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
            assert response.status_code == 200
            named = [(name, data) for name, data, _ in events(response) if name == "error"]
        assert named == [("error", "upstream unavailable")]
        process.wait_for(r"The live smoke failed \(request \S+\): .*127\.0\.0\.1:9")
    finally:
        process.terminate()
