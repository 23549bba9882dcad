"""Task workers as real processes on an SQLite file: SIGTERM, SIGKILL and recovery, --processes.

Orders go in and are followed over HTTP (a real Uvicorn server on the same database file), the
ledger is read with sqlite3: nothing here shares the test process's Django connections.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ROOT, Process, uvicorn_server
from tests.support.workers import exited_within

pytestmark = pytest.mark.server


@dataclass
class Site:
    url: str
    db: Path
    env: dict[str, str]

    def order(self, meats: int) -> str:
        response = httpx.post(
            self.url + "/smoke_orders/",
            json={"meats": meats, "flavor": "Famous Dave's"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        order_id: str = response.json()["id"]
        return order_id

    def get(self, order_id: str) -> dict[str, object]:
        response = httpx.get(f"{self.url}/smoke_orders/{order_id}/", timeout=10)
        assert response.status_code == 200
        order: dict[str, object] = response.json()
        return order

    def wait_status(self, order_id: str, status: str, timeout: float = 30) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while (order := self.get(order_id))["status"] != status:
            assert time.monotonic() < deadline, f"still {order['status']} after {timeout} s"
            time.sleep(0.1)
        return order

    def ledger_rows(self, order_id: str) -> int:
        with sqlite3.connect(self.db) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM hello_async_smokeledger WHERE idempotency_key = ?",
                (order_id,),
            ).fetchone()
        return int(count)

    def worker(self, *args: str, **env: str) -> Process:
        process = Process(
            [sys.executable, "-m", "hello_async.cli", "worker", *args], env={**self.env, **env}
        )
        process.wait_for(r"Task worker \S+ ready")
        return process


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("tasks") / "db.sqlite3"
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "UPSTREAM_URL": "http://127.0.0.1:9",  # orders never call it
        "HELLO_ASYNC_TASK_POLL_INTERVAL": "0.05",
        "HELLO_ASYNC_TASK_LEASE": "1",
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "hello_async.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    server, url = uvicorn_server(env)
    try:
        yield Site(url=url, db=db, env=env)
    finally:
        server.terminate()


def test_sigterm_lets_the_worker_finish_its_task_then_exit(site: Site) -> None:
    worker = site.worker(HELLO_ASYNC_TIME_SCALE="1")  # 3 meats: 3 s of smoking
    order_id = site.order(3)
    worker.wait_for(rf"Smoke order {order_id}: attempt 1")
    assert site.get(order_id)["status"] == "RUNNING"
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    output = worker.output()
    assert f"finishing task {order_id}" in output
    # The last of the three meats was smoked after the signal, not cut short.
    assert output.index("Lemon chicken smoked.") > output.index("finishing task")
    order = site.get(order_id)
    assert order["status"] == "SUCCESSFUL"
    assert order["attempts"] == 1
    assert site.ledger_rows(order_id) == 1


def test_sigterm_past_the_grace_gives_the_task_back(site: Site) -> None:
    worker = site.worker(HELLO_ASYNC_TIME_SCALE="1", HELLO_ASYNC_TASK_SHUTDOWN_GRACE="0.5")
    order_id = site.order(6)  # 6 s of smoking: far past the grace
    worker.wait_for(rf"Smoke order {order_id}: attempt 1")
    started = time.monotonic()
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 1
    assert time.monotonic() - started < 5
    assert f"Task {order_id} given back to the queue (READY)" in worker.output()
    assert site.get(order_id)["status"] == "READY"
    assert site.ledger_rows(order_id) == 0

    second = site.worker(HELLO_ASYNC_TIME_SCALE="0")
    try:
        order = site.wait_status(order_id, "SUCCESSFUL")
    finally:
        second.terminate()
    assert order["attempts"] == 2
    assert site.ledger_rows(order_id) == 1


def test_a_sigkilled_workers_task_goes_back_to_ready_and_another_worker_completes_it(
    site: Site,
) -> None:
    doomed = site.worker(HELLO_ASYNC_TIME_SCALE="1")
    order_id = site.order(4)
    doomed.wait_for(rf"Smoke order {order_id}: attempt 1")
    doomed.popen.kill()
    doomed.wait()
    assert site.get(order_id)["status"] == "RUNNING"  # what SIGKILL leaves behind

    rescuer = site.worker(HELLO_ASYNC_TIME_SCALE="0")
    try:
        order = site.wait_status(order_id, "SUCCESSFUL")
        rescuer.wait_for(rf"Task {order_id} back to READY: worker \S+ is gone \(attempt 1 of 3\)")
    finally:
        assert rescuer.terminate() == 0
    assert order["attempts"] == 2
    assert site.ledger_rows(order_id) == 1


def test_an_order_past_the_time_limit_is_failed_with_the_reason_and_the_worker_goes_on(
    site: Site,
) -> None:
    worker = site.worker(HELLO_ASYNC_TIME_SCALE="0.3", HELLO_ASYNC_TASK_TIME_LIMIT="1")
    slow = site.order(6)  # 1.8 s of smoking
    quick = site.order(1)  # 0.3 s
    try:
        failed = site.wait_status(slow, "FAILED")
        site.wait_status(quick, "SUCCESSFUL")
    finally:
        assert worker.terminate() == 0  # the same worker, still healthy: no exit on the way
    assert failed["attempts"] == 1
    assert failed["error"] == {
        "exception": "hello_async.work.worker.TaskTimeLimitExceeded",
        "message": "hello_async.work.worker.TaskTimeLimitExceeded: the task ran past its time limit"
        " of 1 s (HELLO_ASYNC_TASK_TIME_LIMIT)",
    }
    assert site.ledger_rows(slow) == 0  # cancelled mid-smoke, before its effect
    assert site.ledger_rows(quick) == 1
    assert "stopped after 2 tasks" in worker.output()


def test_a_worker_prunes_finished_orders_past_the_retention_as_it_starts(site: Site) -> None:
    first = site.worker(HELLO_ASYNC_TIME_SCALE="0")
    old, recent = site.order(1), site.order(1)
    try:
        site.wait_status(old, "SUCCESSFUL")
        site.wait_status(recent, "SUCCESSFUL")
    finally:
        first.terminate()
    with sqlite3.connect(site.db) as db:
        db.execute(
            "UPDATE django_tasks_database_dbtaskresult SET finished_at = ? WHERE id = ?",
            ("2000-01-01 00:00:00", old.replace("-", "")),
        )
    pruner = site.worker(HELLO_ASYNC_TASK_RETENTION="86400")
    try:
        pruner.wait_for(r"Worker \S+: deleted 1 finished tasks older than 86400 s")
    finally:
        assert pruner.terminate() == 0
    assert httpx.get(f"{site.url}/smoke_orders/{old}/", timeout=10).status_code == 404
    assert site.get(recent)["status"] == "SUCCESSFUL"
    assert site.ledger_rows(old) == 1  # the order's effect stays


def test_processes_runs_several_workers_replaces_a_dead_one_and_stops_all_on_sigterm(
    site: Site,
) -> None:
    supervisor = Process(
        [sys.executable, "-m", "hello_async.cli", "worker", "--processes", "2"], env=site.env
    )
    first = supervisor.wait_for(r"Task worker (\S+) ready").group(1)
    second = supervisor.wait_for(rf"Task worker (?!{first})(\S+) ready").group(1)
    order_ids = [site.order(1) for _ in range(6)]
    for order_id in order_ids:
        site.wait_status(order_id, "SUCCESSFUL")
    # A worker that dies is replaced.
    os.kill(int(first.split("-")[-2]), signal.SIGKILL)
    supervisor.wait_for(r"process \d+ exited \(-9\), restarting")
    third = supervisor.wait_for(rf"Task worker (?!{first}|{second})(\S+) ready").group(1)
    assert supervisor.terminate(timeout=30) == 0
    assert f"Task worker {second} stopped" in supervisor.output()
    assert f"Task worker {third} stopped" in supervisor.output()


def test_a_sigkilled_supervisor_leaves_no_worker_the_idle_one_stops_the_busy_one_finishes(
    site: Site,
) -> None:
    supervisor = Process(
        [sys.executable, "-m", "hello_async.cli", "worker", "--processes", "2"],
        env={**site.env, "HELLO_ASYNC_TIME_SCALE": "1"},
    )
    first = supervisor.wait_for(r"Task worker (\S+) ready").group(1)
    second = supervisor.wait_for(rf"Task worker (?!{first})(\S+) ready").group(1)
    pids = {worker_id: int(worker_id.split("-")[-2]) for worker_id in (first, second)}
    try:
        order_id = site.order(3)  # 3 s of smoking
        busy = supervisor.wait_for(rf"Worker (\S+): running \S+ {order_id}").group(1)
        (idle,) = set(pids) - {busy}
        supervisor.popen.kill()  # not Process.wait: the workers still write to its output
        supervisor.popen.wait(timeout=10)
        assert exited_within(pids[idle], 5), "the idle worker outlived its supervisor"
        order = site.wait_status(order_id, "SUCCESSFUL")
        assert exited_within(pids[busy], 30), "the busy worker outlived its supervisor"
    finally:
        for pid in pids.values():  # on a failure, no orphan left behind by the test either
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        supervisor.wait()
    output = supervisor.output()
    assert output.count("Supervisor is gone: stopping") == 2
    assert f"finishing task {order_id}" in output  # the stop came mid-task: it was let finish
    assert order["attempts"] == 1
    assert site.ledger_rows(order_id) == 1


def test_serve_runs_a_task_worker_beside_the_server(site: Site, tmp_path: Path) -> None:
    env = {**site.env, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    server = Process([sys.executable, "-m", "hello_async.cli", "--port", "0"], env=env)
    try:
        url = server.wait_for(r"Uvicorn running on (http://\S+)").group(1)
        served = Site(url=url, db=tmp_path / "db.sqlite3", env=env)
        order_id = served.order(2)
        assert served.wait_status(order_id, "SUCCESSFUL")["attempts"] == 1
        assert served.ledger_rows(order_id) == 1
    finally:
        assert server.terminate() == 0
    assert "Task worker" in server.output() and "stopped after 1 tasks" in server.output()


def test_serve_sigkilled_leaves_no_orphan_task_worker(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "UPSTREAM_URL": "http://127.0.0.1:9",
    }
    server = Process([sys.executable, "-m", "hello_async.cli", "--port", "0"], env=env)
    try:
        worker_pid = int(server.wait_for(r"Task worker \S+-(\d+)-\w+ ready").group(1))
        server.popen.kill()
        server.popen.wait(timeout=10)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{worker_pid}") and _alive(worker_pid):
            assert time.monotonic() < deadline, "the task worker outlived its server"
            time.sleep(0.1)
    finally:
        server.terminate()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
