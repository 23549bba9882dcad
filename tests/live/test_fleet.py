"""Two real servers as two hosts, sharing one Redis and one database: a console held on one
follows the requests the other serves; both boards see an order move, as it moves."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest

from tests.live.test_broker import redis_is_up
from tests.live.test_live_view import events
from tests.live.visitor import Visitor
from tests.support.servers import Process, uvicorn_server

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not redis_is_up(), reason="Redis is not running on :6379"),
]

SCALE = 0.05  # /async/'s ticks 50 ms apart
TRANSITION = 0.5  # seconds in which every host's board shows an order's change (the promise)


@pytest.fixture(scope="module")
def hosts(httpbin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``hello-async`` (a server and a task worker beside it) and a second server, on one
    SQLite file and one Redis; the board's poll set to a minute, so only the broker can tell
    a board of a change in time."""
    db = tmp_path_factory.mktemp("fleet") / "db.sqlite3"
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "UPSTREAM_URL": httpbin_url,
        "HELLO_ASYNC_TIME_SCALE": str(SCALE),
        "HELLO_ASYNC_TASK_POLL_INTERVAL": "0.05",
        "HELLO_ASYNC_BOARD_POLL": "60",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "HELLO_ASYNC_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:8]}:",
    }
    first = Process(
        [sys.executable, "-m", "hello_async.cli", "--port", "0"],
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}, **env},
    )
    second: Process | None = None
    try:
        url_a = first.wait_for(r"Uvicorn running on (http://\S+)").group(1)
        second, url_b = uvicorn_server(env)  # after the first: its database is migrated
        yield url_a, url_b
    finally:
        if second is not None:
            second.terminate()
        first.terminate()


class Feed:
    """An event stream read in a thread: (name, data, arrival wall time) as they come."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.got: list[tuple[str, dict[str, object], float]] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._client = client
        threading.Thread(target=self._read, args=(url,), daemon=True).start()
        assert self._ready.wait(10), "the stream did not start"

    def _read(self, url: str) -> None:
        try:
            with self._client.stream("GET", url) as stream:
                for name, data, _ in events(stream):
                    if name in ("ready", "board"):
                        self._ready.set()
                    with self._changed:
                        self.got.append((name, json.loads(data), time.time()))
                        self._changed.notify_all()
        except httpx.HTTPError:
            pass

    def wait(self, predicate: object, timeout: float = 20) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: predicate(self.got), timeout), self.got[-5:]  # type: ignore[operator]


def test_a_console_on_one_host_follows_requests_served_by_the_other(
    hosts: tuple[str, str],
) -> None:
    url_a, url_b = hosts
    visitor = Visitor(url_a)
    try:
        console = Feed(visitor.client, f"/console/events/?session={visitor.token}")
        headers = {"X-Console-Session": visitor.token}

        def send(n: int) -> int:
            host = (url_a, url_b)[n % 2]  # alternately: the cookie goes to both hosts
            sent = {**headers, "X-Console-Request": f"c{n}"}
            return visitor.client.get(f"{host}/async/", headers=sent).status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(send, range(20))) == [200] * 20

        def all_followed(got: list[tuple[str, dict[str, object], float]]) -> bool:
            done = [d for n, d, _ in got if n == "line" and d.get("text") == "<Response [200 OK]>"]
            return len(done) == 20

        console.wait(all_followed)
        requests = {d["request"]: d["client"] for n, d, _ in console.got if n == "request"}
        assert sorted(requests.values()) == sorted(f"c{n}" for n in range(20))
        for request_id in requests:  # every request's every line, from either host
            lines = [
                d["text"] for n, d, _ in console.got if n == "line" and d["request"] == request_id
            ]
            assert lines == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]
        # The token is the visitor's on the other host too: without its cookie, 403.
        assert httpx.get(f"{url_b}/async/", headers=headers, timeout=10).status_code == 403
        stolen = f"{url_b}/console/events/?session={visitor.token}"
        assert httpx.get(stolen, timeout=10).status_code == 403
    finally:
        visitor.close()


def _moment(value: object) -> float:
    return datetime.fromisoformat(str(value)).timestamp()


def test_both_hosts_boards_see_an_order_run_by_the_worker_as_it_moves(
    hosts: tuple[str, str],
) -> None:
    url_a, url_b = hosts
    with httpx.Client(timeout=30) as client_a, httpx.Client(timeout=30) as client_b:
        boards = [
            Feed(client_a, f"{url_a}/smoke_orders/board/events/"),
            Feed(client_b, f"{url_b}/smoke_orders/board/events/"),
        ]
        queued = httpx.post(
            f"{url_b}/smoke_orders/", json={"meats": 2, "flavor": "Famous Dave's"}, timeout=10
        )
        assert queued.status_code == 202
        id_ = queued.json()["id"]

        def finished(got: list[tuple[str, dict[str, object], float]]) -> bool:
            moved = [d for n, d, _ in got if n == "order"]
            return any(d["id"] == id_ and d["status"] == "SUCCESSFUL" for d in moved)

        for feed in boards:
            feed.wait(finished)
            seen = {
                d["status"]: (d, at) for n, d, at in feed.got if n == "order" and d["id"] == id_
            }
            assert {"RUNNING", "SUCCESSFUL"} <= set(seen)
            running, at = seen["RUNNING"]
            assert at - _moment(running["started_at"]) < TRANSITION
            done, at = seen["SUCCESSFUL"]
            assert at - _moment(done["finished_at"]) < TRANSITION


def test_readyz_says_the_broker_is_up(hosts: tuple[str, str]) -> None:
    for url in hosts:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200 and "broker: ok (redis)" in ready.text
