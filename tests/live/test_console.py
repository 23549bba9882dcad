"""The console's stream: a visitor's own requests, their lines as they happen, no one else's; a
token without the cookie it was minted for is refused. One process, the in-process broker (the
default); tests/fleet/test_fleet.py runs two hosts on Redis."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.live.test_live_view import events
from tests.live.visitor import Visitor
from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server

SCALE = 0.05  # the count's ticks 50 ms apart

Got = list[tuple[str, dict[str, object]]]


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

    def __init__(self, visitor: Visitor) -> None:
        self.events: queue.Queue[tuple[str, dict[str, object]]] = queue.Queue()
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(visitor,), daemon=True)
        self._thread.start()
        assert self._open.wait(10)

    def _read(self, visitor: Visitor) -> None:
        try:
            with visitor.stream() as stream:
                for name, data, _ in events(stream):
                    if name == "ready":  # the session is open: requests are followed from now
                        self._open.set()
                        continue
                    self.events.put((name, json.loads(data)))
        except httpx.HTTPError:
            pass

    def until(self, predicate: Callable[[Got], bool], timeout: float = 10) -> Got:
        got: Got = []
        deadline = time.monotonic() + timeout
        while not predicate(got):
            got.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))
        return got


@pytest.fixture
def visitors(server: tuple[Process, str]) -> Iterator[Callable[[], Visitor]]:
    made: list[Visitor] = []

    def visit() -> Visitor:
        made.append(Visitor(server[1]))
        return made[-1]

    yield visit
    for visitor in made:
        visitor.close()


def test_async_answers_first_then_its_count_arrives(visitors: Callable[[], Visitor]) -> None:
    me, them = visitors(), visitors()
    mine, theirs = Listener(me), Listener(them)
    assert me.get("/async/", client="c1").status_code == 200
    me.client.get("/async/")  # no console header: nobody's lines
    got = mine.until(lambda got: any("Response" in str(d.get("text")) for _, d in got))
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
    with pytest.raises(queue.Empty):  # the other console saw none of it
        theirs.events.get(timeout=0.2)


def test_a_sync_views_lines_all_come_before_its_answer(visitors: Callable[[], Visitor]) -> None:
    me = visitors()
    console = Listener(me)
    assert me.get("/sync/", client="c2").status_code == 200
    got = console.until(lambda got: any(name == "response" for name, _ in got))
    lines = [data["text"] for name, data in got if name == "line"]
    assert lines == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]  # before the response


def test_the_smoking_lines_are_stamped_before_the_answer(visitors: Callable[[], Visitor]) -> None:
    me = visitors()
    console = Listener(me)
    assert me.get("/smoke_some_meats/").status_code == 200
    got = console.until(
        lambda got: (
            any(name == "response" for name, _ in got)
            and any("Sausage smoked." in str(d.get("text")) for _, d in got)
        )
    )
    answer = next(float(d["t"]) for name, d in got if name == "response")  # type: ignore[arg-type]
    smoking = [float(d["t"]) for name, d in got if name == "line"]  # type: ignore[arg-type]
    # The server's own times, the answer's too: every line of the smoke before the answer.
    assert len(smoking) == 22 and max(smoking) <= answer


def test_a_bad_token_is_a_400(server: tuple[Process, str]) -> None:
    _, url = server
    assert httpx.get(url + "/console/events/?session=short", timeout=10).status_code == 400


def test_the_page_binds_its_token_to_a_signed_strict_http_only_cookie(
    visitors: Callable[[], Visitor],
) -> None:
    me = visitors()
    cookie = me.set_cookie
    assert cookie.startswith(f"hello_async_console={me.token}:")  # the token, signed
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    again = me.client.get("/console/")  # another tab: the same visitor, the same token
    assert f'data-session="{me.token}"' in again.text
    assert visitors().token != me.token  # another browser: its own


def test_a_token_without_its_cookie_is_refused(
    server: tuple[Process, str], visitors: Callable[[], Visitor]
) -> None:
    _, url = server
    me, thief = visitors(), visitors()
    stolen = f"/console/events/?session={me.token}"
    headers = {"X-Console-Session": me.token}
    # The stream: no cookie, or another visitor's cookie.
    assert httpx.get(url + stolen, timeout=10).status_code == 403
    with thief.client.stream("GET", stolen) as response:
        assert response.status_code == 403
    # A request naming the token: no cookie, a forged one, another visitor's.
    assert httpx.get(url + "/", headers=headers, timeout=10).status_code == 403
    forged = {"hello_async_console": f"{me.token}:forged"}
    assert httpx.get(url + "/", headers=headers, cookies=forged, timeout=10).status_code == 403
    refused = thief.client.get("/", headers=headers)
    assert refused.status_code == 403 and "another browser" in refused.text
    # With the cookie, both are the owner's.
    assert me.get("/").status_code == 200
    with me.stream() as response:
        assert response.status_code == 200


def test_a_console_and_a_live_stream_both_get_the_lines_of_one_request(
    visitors: Callable[[], Visitor],
) -> None:
    me = visitors()
    console = Listener(me)
    headers = {"X-Console-Session": me.token, "X-Console-Request": "c3"}
    with me.client.stream("GET", "/smoke_some_meats/live/", headers=headers) as stream:
        streamed = [data for name, data, _ in events(stream) if name == "line"]
    got = console.until(lambda got: any("Sausage smoked." in str(d.get("text")) for _, d in got))
    followed = [data["text"] for name, data in got if name == "line"]
    assert streamed[:2] == ["Getting smokeables...", "Getting flavor..."]
    assert followed == streamed  # the same lines, to both
