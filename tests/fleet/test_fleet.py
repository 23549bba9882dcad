"""The documented production setup, run whole: two hosts, each ``hello-async --workers 2`` on a
port of its own, a task host (``hello-async worker --processes 2``), one PostgreSQL database
and one Redis. Issue 18's items 2-7 asserted across them:

* a console held on one host follows every request sent alternately to both; a stolen token is
  refused;
* both hosts' boards see each order RUNNING and SUCCESSFUL, whichever host queued it;
* every scrape of one host's ``/metrics`` counts every one of its workers' requests;
* a feed's cap leaves the other feeds open;
* an idle task worker starts a queued order within milliseconds (NOTIFY, not polling);
* the task workers stop when their supervisor is SIGKILLed.

The database is one of its own, created and dropped here on the PostgreSQL server of
``DATABASE_URL`` (or postgres://postgres@127.0.0.1:5432), so a run never meets another's rows;
Redis keys and channels carry a prefix of the run's own. Skipped when either is unreachable.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from django_tasks_db.models import DBTaskResult
from psycopg import sql

from tests.live.test_broker import redis_is_up
from tests.live.test_live_view import events
from tests.live.visitor import Visitor
from tests.ops.test_metrics import metrics_dir_of, root_requests_per_process
from tests.support.servers import Process
from tests.support.workers import exited_within

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/test"
SCALE = 0.05  # /async/'s ticks 50 ms apart, an order of 1 meat smoked in 50 ms
TRANSITION = 0.5  # seconds in which every host's board shows an order's change (the promise)
PICKUP_MEDIAN = 0.050  # the promise: median queue-to-start with idle workers
ORDERS = 10
BOARDS_CAP = 2  # board streams per web worker (HELLO_ASYNC_SSE_MAX_BOARDS)
WEB_WORKERS = 2
TASK_WORKERS = 2

Events = list[tuple[str, dict[str, Any], float]]


def server_url() -> str:
    """The PostgreSQL server to make the fleet's database on: CI's DATABASE_URL, or the local
    default."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_SERVER


def postgres_is_up() -> bool:
    try:
        with psycopg.connect(server_url(), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


pytestmark = [
    pytest.mark.server,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not redis_is_up(), reason="Redis is not running on 127.0.0.1:6379"),
    pytest.mark.skipif(not postgres_is_up(), reason=f"PostgreSQL unreachable at {server_url()}"),
]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A database of this run's own on the server: its URL. Dropped afterwards, connections
    and all."""
    name = f"hello_fleet_{os.getpid()}"
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield re.sub(r"/[^/]*$", f"/{name}", server_url())
    finally:
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Fleet:
    hosts: tuple[str, str]
    servers: tuple[Process, Process]
    supervisor: Process
    task_pids: list[int]
    database: str

    def order(self, host: int, meats: int = 1) -> str:
        response = httpx.post(
            f"{self.hosts[host]}/smoke_orders/",
            json={"meats": meats, "flavor": "Famous Dave's"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        order_id: str = response.json()["id"]
        return order_id


def each(process: Process, pattern: str, count: int) -> list[re.Match[str]]:
    """The first ``count`` lines matching ``pattern``, once there are that many."""
    regex = re.compile(pattern)
    found: list[re.Match[str]] = []
    start = 0
    while len(found) < count:
        found.append(process.wait_for(pattern, start=start, timeout=60))
        start = next(i for i, line in enumerate(process.lines) if i >= start and regex.search(line))
        start += 1
    return found


def serve(env: dict[str, str]) -> tuple[Process, str]:
    """``hello-async --workers 2`` on a free port, once both its workers are ready."""
    argv = [sys.executable, "-m", "hello_async.cli", "--workers", str(WEB_WORKERS), "--port", "0"]
    process = Process(argv, env=env)
    url = process.wait_for(r"Uvicorn running on (http://\S+)", timeout=60).group(1)
    each(process, r"hello_async ready", WEB_WORKERS)
    return process, url


@pytest.fixture(scope="module")
def fleet(httpbin_url: str, database: str) -> Iterator[Fleet]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": database,
        "UPSTREAM_URL": httpbin_url,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "HELLO_ASYNC_REDIS_PREFIX": f"fleet-{uuid.uuid4().hex[:8]}:",
        "HELLO_ASYNC_TIME_SCALE": str(SCALE),
        # Only the broker can tell a board of a change in time, only NOTIFY a worker of an order.
        "HELLO_ASYNC_BOARD_POLL": "60",
        "HELLO_ASYNC_TASK_POLL_INTERVAL": "30",
        "HELLO_ASYNC_SERVE_TASK_WORKERS": "0",  # the task host below runs them
        "HELLO_ASYNC_SSE_MAX_BOARDS": str(BOARDS_CAP),
    }
    started: list[Process] = []
    task_pids: list[int] = []
    try:
        first, url_a = serve(env)  # it migrates the database: first, alone
        started.append(first)
        supervisor = Process(
            [sys.executable, "-m", "hello_async.cli", "worker", "--processes", str(TASK_WORKERS)],
            env=env,
        )
        started.append(supervisor)
        second, url_b = serve(env)
        started.append(second)
        ready = r"Task worker \S+-(\d+)-\w+ ready \(queue default, woken by NOTIFY"
        task_pids += [int(match.group(1)) for match in each(supervisor, ready, TASK_WORKERS)]
        yield Fleet((url_a, url_b), (first, second), supervisor, task_pids, database)
    finally:
        for process in reversed(started):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in reversed(started):
            process.wait()
        for pid in task_pids:  # none outlives the run, whatever failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Feed:
    """An event stream read in a thread: (name, data, arrival wall time) as they come."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.got: Events = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._client = client
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the stream did not start"

    def _read(self, url: str) -> None:
        with contextlib.suppress(httpx.HTTPError), self._client.stream("GET", url) as stream:
            self._socket = stream.extensions["network_stream"].get_extra_info("socket")
            for name, data, _ in events(stream):
                if name in ("ready", "board"):
                    self._ready.set()
                with self._changed:
                    self.got.append((name, json.loads(data), time.time()))
                    self._changed.notify_all()

    def wait(self, predicate: Callable[[Events], bool], timeout: float = 20) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: predicate(self.got), timeout), self.got[-5:]

    def close(self) -> None:
        """Hang up. Closing the client is not enough: on Linux a socket closed while another
        thread waits in recv() on it stays open until that recv() returns (the server's next
        heartbeat), and the server would count the stream as open until then."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)


def test_a_console_on_one_host_follows_20_of_20_requests_sent_to_both(fleet: Fleet) -> None:
    url_a, url_b = fleet.hosts
    visitor = Visitor(url_a)
    console = Feed(visitor.client, f"/console/events/?session={visitor.token}")
    try:
        headers = {"X-Console-Session": visitor.token}

        def send(n: int) -> int:
            host = fleet.hosts[n % 2]  # alternately: the cookie goes to both hosts
            sent = {**headers, "X-Console-Request": f"c{n}", "Connection": "close"}
            return visitor.client.get(f"{host}/async/", headers=sent).status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(send, range(20))) == [200] * 20

        def all_followed(got: Events) -> bool:
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
        print(f"\nconsole: {len(requests)}/20 requests followed, every line")
        # A stolen token (without the cookie it was minted for) is refused on either host.
        for url in (url_a, url_b):
            assert httpx.get(f"{url}/async/", headers=headers, timeout=10).status_code == 403
            stolen = f"{url}/console/events/?session={visitor.token}"
            assert httpx.get(stolen, timeout=10).status_code == 403
    finally:
        console.close()
        visitor.close()


def _moment(value: object) -> float:
    return datetime.fromisoformat(str(value)).timestamp()


def test_both_hosts_boards_see_each_order_run_and_finish_whichever_host_queued_it(
    fleet: Fleet,
) -> None:
    url_a, url_b = fleet.hosts
    with httpx.Client(timeout=30) as client_a, httpx.Client(timeout=30) as client_b:
        boards = [
            Feed(client_a, f"{url_a}/smoke_orders/board/events/"),
            Feed(client_b, f"{url_b}/smoke_orders/board/events/"),
        ]
        ids = [fleet.order(0), fleet.order(1)]

        def finished(got: Events) -> bool:
            done = {d["id"] for n, d, _ in got if n == "order" and d["status"] == "SUCCESSFUL"}
            return set(ids) <= done

        delays = []
        try:
            for feed in boards:
                feed.wait(finished)
                for id_ in ids:
                    seen = {
                        d["status"]: (d, at)
                        for n, d, at in feed.got
                        if n == "order" and d["id"] == id_
                    }
                    assert {"RUNNING", "SUCCESSFUL"} <= set(seen)
                    running, at = seen["RUNNING"]
                    delays.append(at - _moment(running["started_at"]))
                    done, at = seen["SUCCESSFUL"]
                    delays.append(at - _moment(done["finished_at"]))
        finally:
            for feed in boards:
                feed.close()
    median, worst = statistics.median(delays) * 1000, max(delays) * 1000
    print(
        f"\nboards: each transition on both hosts {median:.0f} ms after (median), {worst:.0f} max"
    )
    assert max(delays) < TRANSITION, [f"{d * 1000:.0f} ms" for d in delays]


def _root_requests(text: str) -> float:
    """hello_async_http_requests_total of route "/", every method and status added."""
    found = re.findall(
        r'^hello_async_http_requests_total\{[^}]*route="/"[^}]*\} (\S+)$', text, re.M
    )
    return sum(float(value) for value in found)


def test_every_scrape_of_one_host_counts_all_200_requests_its_workers_served(
    fleet: Fleet,
) -> None:
    url_a = fleet.hosts[0]
    # A connection per request, so the kernel hands them to both workers.
    with httpx.Client(base_url=url_a, headers={"Connection": "close"}, timeout=10) as http:
        for _ in range(200):
            assert http.get("/").status_code == 200
        scrapes = [_root_requests(http.get("/metrics").text) for _ in range(6)]
    print(f"\nmetrics: six scrapes of one host after 200 requests: {scrapes}")
    assert scrapes == [200] * 6
    # Both workers served some of them: each count above is a sum.
    per_process = root_requests_per_process(metrics_dir_of(fleet.servers[0].popen.pid))
    assert len([count for count in per_process.values() if count]) == WEB_WORKERS, per_process


def _streams_open(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(r"^hello_async_sse_streams_open (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


def test_a_full_board_feed_leaves_the_live_view_and_the_console_open(fleet: Fleet) -> None:
    url_b = fleet.hosts[1]
    # The boards test's streams on this host are gone before the count starts.
    deadline = time.monotonic() + 10
    while _streams_open(url_b) != 0:
        assert time.monotonic() < deadline, "streams of an earlier test still open"
        time.sleep(0.05)
    with contextlib.ExitStack() as held:
        boards = 0
        for _ in range(100):  # until every worker holds its cap: the kernel picks the worker
            board = held.enter_context(httpx.stream("GET", f"{url_b}/smoke_orders/board/events/"))
            assert board.status_code in (200, 503)
            boards += board.status_code == 200
            if boards == WEB_WORKERS * BOARDS_CAP:
                break
        assert boards == WEB_WORKERS * BOARDS_CAP
        refused = httpx.get(f"{url_b}/smoke_orders/board/events/", timeout=10)
        assert refused.status_code == 503  # whichever worker: full
        with httpx.stream("GET", f"{url_b}/smoke_some_meats/live/", timeout=10) as live:
            assert live.status_code == 200
            assert live.headers["content-type"].startswith("text/event-stream")
        visitor = Visitor(url_b)
        try:
            with visitor.stream() as console:
                assert console.status_code == 200
                assert next(events(console))[0] == "ready"
        finally:
            visitor.close()


def test_idle_task_workers_start_a_queued_order_within_50_ms_median(fleet: Fleet) -> None:
    table = DBTaskResult._meta.db_table
    query = sql.SQL("SELECT enqueued_at, started_at FROM {} WHERE id = %s").format(
        sql.Identifier(table)
    )
    waits = []
    with psycopg.connect(fleet.database, autocommit=True) as db:
        for n in range(ORDERS):  # each after the previous one started: the workers are idle
            order_id = fleet.order(n % 2)
            deadline = time.monotonic() + 10
            while (row := db.execute(query, [order_id]).fetchone()) and row[1] is None:
                assert time.monotonic() < deadline, f"order {order_id} not started in 10 s"
                time.sleep(0.02)  # the rows carry the times: this pace only spares the CPU
            assert row is not None
            waits.append((row[1] - row[0]).total_seconds())
    median = statistics.median(waits)
    print(f"\npickup: median {median * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms")
    assert median <= PICKUP_MEDIAN, [f"{w * 1000:.0f} ms" for w in waits]


def test_readyz_on_both_hosts_says_the_broker_is_up(fleet: Fleet) -> None:
    for url in fleet.hosts:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200 and "broker: ok (redis)" in ready.text


def test_a_sigkilled_supervisor_leaves_no_task_worker(fleet: Fleet) -> None:
    """Last: it ends the task host."""
    fleet.supervisor.popen.kill()
    fleet.supervisor.popen.wait(timeout=10)
    for pid in fleet.task_pids:  # idle: each stops within 5 s
        assert exited_within(pid, 5), f"task worker {pid} outlived its supervisor"
