"""The console off the loop, over a real Uvicorn: JSON lines tied to their request, none lost.

With ``HELLO_ASYNC_LOG_FORMAT=json`` every line carries its request's id; ``/async/``'s count,
logged after the answer by its background work, carries the id of the request that started it.
A SIGTERM with requests in flight loses no line: each answered request's 22 lines and its access
line are in the log when the process has gone.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server


def records(process: Process) -> list[dict[str, Any]]:
    parsed = []
    for line in process.lines:
        if line.startswith("{"):
            parsed.append(json.loads(line))
    return parsed


def test_json_lines_carry_the_request_id_into_background_work(httpbin_url: str) -> None:
    process, url = uvicorn_server(
        {
            "UPSTREAM_URL": httpbin_url,
            "HELLO_ASYNC_TIME_SCALE": "0.02",
            "HELLO_ASYNC_LOG_FORMAT": "json",
        }
    )
    try:
        assert httpx.get(url + "/async/", timeout=10).status_code == 200
        process.wait_for(r'"message": "<Response \[200 OK\]>"', timeout=10)
    finally:
        process.terminate()
    lines = records(process)
    access = [r for r in lines if r["logger"] == "uvicorn.access" and "/async/" in r["message"]]
    assert len(access) == 1 and access[0]["request_id"]
    count = [r for r in lines if r["logger"] == "hello_async.article.kitchen"]
    assert [r["message"] for r in count] == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]
    assert {r["request_id"] for r in count} == {access[0]["request_id"]}
    assert {"time", "level", "logger", "message", "request_id"} <= set(count[0])
    assert count[0]["level"] == "INFO" and count[0]["time"].endswith("+00:00")


def test_sigterm_under_load_loses_no_line(httpbin_url: str) -> None:
    requests = 60
    process, url = uvicorn_server(
        {
            "UPSTREAM_URL": httpbin_url,
            "HELLO_ASYNC_TIME_SCALE": "0.5",  # the smokables take 1 s: in flight at the signal
            "HELLO_ASYNC_LOG_FORMAT": "json",
            "HELLO_ASYNC_SHUTDOWN_GRACE": "10",
            "UPSTREAM_MAX_CONNECTIONS": "200",
        }
    )

    async def load() -> list[int]:
        limits = httpx.Limits(max_connections=requests)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
            calls = [asyncio.create_task(http.get("/smoke_some_meats/")) for _ in range(requests)]
            # Every request started on the server (its first line is logged), then the signal.
            deadline = time.monotonic() + 10
            while sum("Getting smokeables" in line for line in process.lines) < requests:
                assert time.monotonic() < deadline, "the requests never all started"
                await asyncio.sleep(0.02)
            process.popen.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(*calls, return_exceptions=True)
        return [a.status_code if isinstance(a, httpx.Response) else 0 for a in answers]

    try:
        statuses = asyncio.run(load())
    finally:
        process.wait(timeout=30)
    assert statuses == [200] * requests
    by_request: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records(process):
        if record["request_id"]:
            by_request[record["request_id"]][record["logger"]] += 1
    smoked = {rid: seen for rid, seen in by_request.items() if "uvicorn.access" in seen}
    assert len(smoked) == requests
    for seen in smoked.values():
        assert seen["uvicorn.access"] == 1
        # 4 lines getting and returning, 18 smoking (one record of 18 lines in JSON: 18 objects)
        assert seen["hello_async.article.kitchen"] == 22
    assert "Finished server process" in process.output()
