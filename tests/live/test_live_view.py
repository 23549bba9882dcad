"""/smoke_some_meats/live/ over a real Uvicorn: the lines as they happen, then the answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server

SCALE = 0.2  # the smokables' 2 s wait takes 0.4 s; the flavor's 1 s takes 0.2 s


@pytest.fixture(scope="module")
def live(httpbin_url: str) -> Iterator[tuple[Process, str]]:
    process, url = uvicorn_server(
        {
            "UPSTREAM_URL": httpbin_url,
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


def test_the_lines_arrive_as_they_happen_then_the_answer(live: tuple[Process, str]) -> None:
    _, url = live
    started = time.monotonic()
    with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["cache-control"] == "no-cache"
        got = list(events(response))
    names = [name for name, _, _ in got]
    texts = [data for _, data, _ in got]
    assert names == ["line"] * 22 + ["result"]
    assert texts[:4] == [
        "Getting smokeables...",
        "Getting flavor...",
        "Returning flavor",
        "Returning smokeable",
    ]
    assert texts[4:7] == ["Smoking some ribs...", texts[5], "Ribs smoked."]
    assert texts[-1].startswith("Smoked 6 meats with ")
    at = {data: arrived - started for _, data, arrived in got}
    # The gathered waits: flavor after ~0.2 s, smokables after ~0.4 s, not 0.6 s.
    assert at["Getting flavor..."] < 0.15
    assert 0.15 < at["Returning flavor"] < at["Returning smokeable"]
    assert 0.35 < at["Returning smokeable"] < 0.6  # under the 0.6 s the waits add up to


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


def test_a_client_that_leaves_stops_the_work(live: tuple[Process, str]) -> None:
    process, url = live
    with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
        request_id = response.headers["x-request-id"]
        first = next(events(response))
        assert first[1] == "Getting smokeables..."
    # Gone before the waits ended: the work is cancelled, and the request is no longer in flight
    # (the one in flight is /metrics itself).
    deadline = time.monotonic() + 5
    while in_flight(url) > 1:
        assert time.monotonic() < deadline, "the stream is still in flight"
        time.sleep(0.02)
    assert metric(url, "hello_async_sse_streams_open") == 0
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


def test_more_streams_than_the_bound_get_503_with_retry_after(live: tuple[Process, str]) -> None:
    _, url = live
    wait_streams_closed(url)
    refused = metric(url, "hello_async_sse_refused_total")
    with (
        httpx.stream("GET", url + "/console/events/?session=" + "a" * 22, timeout=30) as one,
        httpx.stream("GET", url + "/console/events/?session=" + "b" * 22, timeout=30) as two,
        httpx.stream("GET", url + "/console/events/?session=" + "c" * 22, timeout=30) as three,
    ):
        assert {one.status_code, two.status_code, three.status_code} == {200}
        turned_away = httpx.get(url + "/smoke_some_meats/live/", timeout=10)
        assert turned_away.status_code == 503
        assert turned_away.headers["retry-after"] == "5"
        assert "Too many live streams" in turned_away.text
        assert metric(url, "hello_async_sse_streams_open") == 3
    assert metric(url, "hello_async_sse_refused_total") == refused + 1
    # Closed streams give their places back.
    deadline = time.monotonic() + 5
    while httpx.get(url + "/smoke_some_meats/live/", timeout=30).status_code == 503:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_an_idle_stream_gets_heartbeats(live: tuple[Process, str]) -> None:
    _, url = live
    with httpx.stream("GET", url + "/console/events/?session=" + "h" * 22, timeout=30) as stream:
        lines = stream.iter_lines()
        assert next(lines) == ": stream open"
        assert [next(lines) for _ in range(4)] == ["", "event: ready", "data: {}", ""]
        seen = [next(lines) for _ in range(4)]  # then nothing happens: heartbeats
    assert seen.count(": heartbeat") == 2


def test_head_answers_the_headers_and_takes_no_place(live: tuple[Process, str]) -> None:
    _, url = live
    wait_streams_closed(url)
    with (
        httpx.stream("GET", url + "/console/events/?session=" + "d" * 22, timeout=30) as one,
        httpx.stream("GET", url + "/console/events/?session=" + "e" * 22, timeout=30) as two,
        httpx.stream("GET", url + "/console/events/?session=" + "f" * 22, timeout=30) as three,
    ):
        assert {one.status_code, two.status_code, three.status_code} == {200}
        # Every place taken: a GET is refused, a HEAD still answers (it starts no stream).
        assert httpx.get(url + "/smoke_some_meats/live/", timeout=10).status_code == 503
        for path in ("/smoke_some_meats/live/", "/smoke_orders/board/events/"):
            head = httpx.head(url + path, timeout=10)
            assert head.status_code == 200, path
            assert head.headers["content-type"].startswith("text/event-stream")
            assert head.headers["x-accel-buffering"] == "no"
            assert head.content == b""
