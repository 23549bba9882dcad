"""``/metrics`` for the whole server (hello_async.ops.metrics): ``hello-async --workers 2`` shares
its figures through prometheus-client's multiprocess mode, so every scrape, whichever worker
answers it, counts every worker's requests, refusals and open streams."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.support.servers import Process

ROOT_OK = 'hello_async_http_requests_total{method="GET",route="/",status="200"}'
ROOT_TIMED = 'hello_async_http_request_duration_seconds_count{method="GET",route="/"}'


def sample(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics:\n{text}"
    return float(found.group(1))


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def metrics_dir_of(pid: int) -> str:
    """The multiprocess directory ``hello-async`` (``pid``) gave its Uvicorn workers."""
    for child in children(pid):
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        for entry in environ:
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return entry.split(b"=", 1)[1].decode()
    raise AssertionError(f"no worker of {pid} has PROMETHEUS_MULTIPROC_DIR")


def root_requests_per_process(directory: str) -> Counter[str]:
    """GET / answered 200, per worker, from each process's own counter file."""
    per_process: Counter[str] = Counter()
    for path in Path(directory).glob("counter_*.db"):
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, _ = json.loads(key)
            if name == "hello_async_http_requests_total" and labels == {
                "method": "GET",
                "route": "/",
                "status": "200",
            }:
                per_process[path.name] += int(value)
    return per_process


@pytest.fixture
def two_workers(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "UPSTREAM_URL": "http://127.0.0.1:9",  # no view here calls it
        "HELLO_ASYNC_SERVE_TASK_WORKERS": "0",
        "HELLO_ASYNC_SSE_MAX_BOARDS": "1",  # a board stream per process at most
    }
    process = Process(
        [sys.executable, "-m", "hello_async.cli", "--workers", "2", "--port", "0"], env=env
    )
    try:
        url = process.wait_for(r"Uvicorn running on (http://\S+)").group(1)
        ready = process.wait_for(r"hello_async ready")
        process.wait_for(r"hello_async ready", start=process.index(ready.re.pattern) + 1)
        yield process, url
    finally:
        code = process.terminate()
    assert code == 0, process.output()


@pytest.mark.server
def test_every_scrape_counts_every_workers_requests(two_workers) -> None:  # type: ignore[no-untyped-def]
    process, url = two_workers
    directory = metrics_dir_of(process.popen.pid)
    # A connection per request, so the kernel hands them to both workers.
    with httpx.Client(base_url=url, headers={"Connection": "close"}, timeout=10) as http:
        for _ in range(200):
            assert http.get("/").status_code == 200
        assert http.get("/no/such/page/").status_code == 404
        assert http.get("/smoke_orders/no-such-order/").status_code == 404
        scrapes = [http.get("/metrics").text for _ in range(6)]
    assert [sample(text, ROOT_OK) for text in scrapes] == [200] * 6
    unmatched = 'hello_async_http_requests_total{method="GET",route="unmatched",status="404"}'
    pattern = (
        'hello_async_http_requests_total{method="GET",route="/smoke_orders/<str:id>/",status="404"}'
    )
    for text in scrapes:
        assert sample(text, unmatched) == 1
        assert sample(text, pattern) == 1
        assert sample(text, ROOT_TIMED) == 200
        assert "no-such" not in text
        # Each live worker's own figure, labelled with its pid: both are read.
        assert len(set(re.findall(r'hello_async_gc_frozen_objects\{pid="(\d+)"\}', text))) == 2
        assert "python_gc_" not in text  # one interpreter's: left out with several
    # Both workers answered some of them: each count above is a sum.
    per_process = root_requests_per_process(directory)
    assert sum(per_process.values()) == 200
    assert len([count for count in per_process.values() if count]) == 2, per_process
    # A worker killed: Uvicorn starts another; the dead one's requests still count, its live
    # figures (its frozen objects here, its requests in flight) are dropped at the next scrape.
    pids = set(re.findall(r'hello_async_gc_frozen_objects\{pid="(\d+)"\}', scrapes[-1]))
    killed = int(min(pids))
    readies = len([line for line in process.lines if "hello_async ready" in line])
    os.kill(killed, signal.SIGKILL)
    died = rf"Child process \[{killed}\] died"
    process.wait_for(died)
    process.wait_for(r"hello_async ready", start=process.index(died))
    assert len([line for line in process.lines if "hello_async ready" in line]) == readies + 1
    with httpx.Client(base_url=url, headers={"Connection": "close"}, timeout=10) as http:
        after = [http.get("/metrics").text for _ in range(6)]
    assert [sample(text, ROOT_OK) for text in after] == [200] * 6
    for text in after:
        live = set(re.findall(r'hello_async_gc_frozen_objects\{pid="(\d+)"\}', text))
        assert len(live) == 2 and str(killed) not in live
        assert sample(text, "hello_async_requests_in_flight") == 1  # the scrape itself
    process.terminate()
    assert not Path(directory).exists()  # removed at exit


@pytest.mark.server
def test_refusals_and_open_streams_are_the_servers_in_every_scrape(two_workers) -> None:  # type: ignore[no-untyped-def]
    process, url = two_workers
    with ExitStack() as streams:
        statuses = []
        for _ in range(4):  # a board stream per process at most: two at least are refused
            client = streams.enter_context(httpx.Client(base_url=url, timeout=10))
            response = streams.enter_context(client.stream("GET", "/smoke_orders/board/events/"))
            statuses.append(response.status_code)
        refused = statuses.count(503)
        assert refused >= 2 and statuses.count(200) == 4 - refused, statuses
        with httpx.Client(base_url=url, headers={"Connection": "close"}, timeout=10) as http:
            scrapes = [http.get("/metrics").text for _ in range(6)]
    assert [sample(text, "hello_async_sse_refused_total") for text in scrapes] == [refused] * 6
    open_streams = [sample(text, "hello_async_sse_streams_open") for text in scrapes]
    assert open_streams == [4 - refused] * 6


@pytest.mark.server
def test_gunicorn_with_the_deploy_config_adds_up_its_workers(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"stale")  # an earlier run's: removed at start
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "UPSTREAM_URL": "http://127.0.0.1:9",
        "WEB_CONCURRENCY": "2",
        "BIND": f"127.0.0.1:{unused_tcp_port}",
    }
    argv = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
    process = Process(argv, env=env)
    try:
        first = process.wait_for(r"hello_async ready")
        process.wait_for(r"hello_async ready", start=process.index(first.re.pattern) + 1)
        url = f"http://127.0.0.1:{unused_tcp_port}"
        with httpx.Client(base_url=url, headers={"Connection": "close"}, timeout=10) as http:
            for _ in range(50):
                assert http.get("/").status_code == 200
            scrapes = [http.get("/metrics").text for _ in range(6)]
        assert [sample(text, ROOT_OK) for text in scrapes] == [50] * 6
        assert not (directory / "counter_1.db").exists()
        pids = set(re.findall(r'hello_async_gc_frozen_objects\{pid="(\d+)"\}', scrapes[-1]))
        assert len(pids) == 2
        killed = min(pids)
        booted = len([line for line in process.lines if "Booting worker" in line])
        os.kill(int(killed), signal.SIGKILL)
        # Gunicorn reaps it, runs child_exit (its live figures dropped), then boots another.
        sent = process.wait_for(rf"Worker \(pid:{killed}\) was sent SIGKILL")
        process.wait_for(r"Booting worker", start=process.index(sent.re.pattern))
        assert len([line for line in process.lines if "Booting worker" in line]) == booted + 1
        assert not list(directory.glob(f"gauge_live*_{killed}.db"))
        assert list(directory.glob(f"counter_{killed}.db"))  # its requests still count
    finally:
        code = process.terminate()
    assert code == 0, process.output()
