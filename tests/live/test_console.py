"""The console's stream: a visitor's own requests, their lines as they happen, no one else's."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.live.test_live_view import events
from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server

SCALE = 0.05  # the count's ticks 50 ms apart


@pytest.fixture(scope="module")
def server(httpbin_url: str) -> Iterator[tuple[Process, str]]:
    process, url = uvicorn_server(
        {"UPSTREAM_URL": httpbin_url, "HELLO_ASYNC_TIME_SCALE": str(SCALE)}
    )
    try:
        yield process, url
    finally:
        process.terminate()


class Listener:
    """A console's event stream, read in a thread; its events in a queue."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue[tuple[str, dict[str, object]]] = queue.Queue()
        self._open = threading.Event()
        self._client = httpx.Client(timeout=30)
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()
        assert self._open.wait(10)

    def _read(self, url: str, token: str) -> None:
        try:
            with self._client.stream("GET", f"{url}/console/events/?session={token}") as stream:
                for name, data, _ in events(stream):
                    if name == "ready":  # the session is open: requests are followed from now
                        self._open.set()
                        continue
                    self.events.put((name, json.loads(data)))
        except httpx.HTTPError:
            pass

    def until(self, predicate: object, timeout: float = 10) -> list[tuple[str, dict[str, object]]]:
        got: list[tuple[str, dict[str, object]]] = []
        deadline = time.monotonic() + timeout
        while not predicate(got):  # type: ignore[operator]
            got.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))
        return got

    def close(self) -> None:
        self._client.close()


def test_async_answers_first_then_its_count_arrives(server: tuple[Process, str]) -> None:
    _, url = server
    mine, theirs = Listener(url, "m" * 22), Listener(url, "t" * 22)
    try:
        headers = {"X-Console-Session": "m" * 22, "X-Console-Request": "c1"}
        assert httpx.get(url + "/async/", headers=headers, timeout=10).status_code == 200
        httpx.get(url + "/async/", timeout=10)  # no console: nobody's lines
        got = mine.until(lambda got: any("Response" in str(d.get("text")) for _, d in got))
    finally:
        mine.close()
    names = [name for name, _ in got]
    assert names[0] == "request" and got[0][1]["client"] == "c1" and got[0][1]["path"] == "/async/"
    assert names[1] == "response" and got[1][1]["status"] == 200
    lines = [data["text"] for name, data in got if name == "line"]
    assert lines == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]
    ids = {data["request"] for _, data in got}
    assert len(ids) == 1  # one request's events only: not the request sent without the header
    times = [float(data["t"]) for name, data in got if name == "line"]  # type: ignore[arg-type]
    assert float(got[1][1]["t"]) < times[0]  # type: ignore[arg-type]
    assert times == sorted(times) and times[4] - times[0] >= 4 * SCALE * 1000 * 0.8
    try:
        with pytest.raises(queue.Empty):  # the other console saw none of it
            theirs.events.get(timeout=0.2)
    finally:
        theirs.close()


def test_a_sync_views_lines_all_come_before_its_answer(server: tuple[Process, str]) -> None:
    _, url = server
    console = Listener(url, "s" * 22)
    try:
        headers = {"X-Console-Session": "s" * 22, "X-Console-Request": "c2"}
        assert httpx.get(url + "/sync/", headers=headers, timeout=10).status_code == 200
        got = console.until(lambda got: any(name == "response" for name, _ in got))
    finally:
        console.close()
    lines = [data["text"] for name, data in got if name == "line"]
    assert lines == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]  # before the response


def test_a_bad_token_is_a_400(server: tuple[Process, str]) -> None:
    _, url = server
    assert httpx.get(url + "/console/events/?session=short", timeout=10).status_code == 400


def test_a_console_and_a_live_stream_both_get_the_lines_of_one_request(
    server: tuple[Process, str],
) -> None:
    _, url = server
    console = Listener(url, "l" * 22)
    try:
        headers = {"X-Console-Session": "l" * 22, "X-Console-Request": "c3"}
        with httpx.stream(
            "GET", url + "/smoke_some_meats/live/", headers=headers, timeout=30
        ) as stream:
            streamed = [data for name, data, _ in events(stream) if name == "line"]
        got = console.until(
            lambda got: any("Sausage smoked." in str(d.get("text")) for _, d in got)
        )
    finally:
        console.close()
    followed = [data["text"] for name, data in got if name == "line"]
    assert streamed[:2] == ["Getting smokeables...", "Getting flavor..."]
    assert followed == streamed  # the same lines, to both
