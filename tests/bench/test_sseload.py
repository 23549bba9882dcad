"""The bench's stream reader and the live row's peer, against real Uvicorn servers.

What the ``live`` row compares must be the same work: the peer's stream is checked event for
event against ours, and the reader's counts against what a stream holds. Behaviour only, never
timings."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import httpx
import pytest

from hello_async.bench.sseload import agenerate
from tests.live.test_live_view import events
from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server

SCALE = "0.05"  # each stream about 0.1 s
EVENTS = 23  # 4 lines while fetching, 18 while smoking, the answer


@pytest.fixture(scope="module")
def ours(httpbin_url: str) -> Iterator[str]:
    process, url = uvicorn_server(
        {
            "UPSTREAM_URL": httpbin_url,
            "HELLO_ASYNC_TIME_SCALE": SCALE,
            "HELLO_ASYNC_SSE_MAX_SUBSCRIBERS": "2",
        }
    )
    try:
        yield url
    finally:
        process.terminate()


@pytest.fixture(scope="module")
def peer(httpbin_url: str) -> Iterator[str]:
    argv = [sys.executable, "-m", "uvicorn", "sse_peer:app", "--app-dir", "bench/peers"]
    process = Process(
        [*argv, "--port", "0"],
        env={"UPSTREAM_URL": httpbin_url, "HELLO_ASYNC_TIME_SCALE": SCALE},
    )
    match = process.wait_for(r"Uvicorn running on (http://\S+)")
    try:
        yield match.group(1)
    finally:
        process.terminate()


def _stream(url: str) -> list[tuple[str, str]]:
    with httpx.stream("GET", url + "/smoke_some_meats/live/", timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        return [(name, data) for name, data, _ in events(response)]


def test_the_peer_streams_what_ours_streams(ours: str, peer: str) -> None:
    mine, theirs = _stream(ours), _stream(peer)
    assert len(mine) == len(theirs) == EVENTS
    # The same events in the same order; the flavor is chosen at random on each side.
    assert [name for name, _ in mine] == [name for name, _ in theirs]
    assert sorted(data for _, data in mine[:4]) == sorted(data for _, data in theirs[:4])
    assert mine[-1][1].startswith("Smoked 6 meats with ")
    assert theirs[-1][1].startswith("Smoked 6 meats with ")
    assert mine[4][1] == theirs[4][1] == "Smoking some ribs..."


def test_the_reader_counts_whole_streams_and_their_events(peer: str) -> None:
    result = asyncio.run(agenerate(peer + "/smoke_some_meats/live/", concurrency=3, seconds=1.0))
    assert result.errors == 0
    assert result.requests >= 3
    # Every stream read whole holds all its events; one cut by the window's end, some of them.
    assert EVENTS * result.requests <= result.events < EVENTS * (result.requests + 3)
    assert 0 < result.p50_ms <= result.p99_ms


def test_the_reader_counts_a_refused_stream_as_an_error(ours: str) -> None:
    # Four clients against room for two subscribers: the others get 503s, counted as errors.
    result = asyncio.run(agenerate(ours + "/smoke_some_meats/live/", concurrency=4, seconds=1.0))
    assert result.errors > 0
    assert result.requests > 0
