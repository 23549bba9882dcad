"""Under load on PostgreSQL, the server's connections stay within pool x processes.

``hello-async --workers 2`` with ``DATABASE_POOL_MAX=4`` (and its one task worker) takes a few
hundred concurrent requests that use the database; ``pg_stat_activity`` is sampled throughout.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections

from tests.support.servers import Process
from tests.work.test_worker_chaos import worker_database_url

WEB_WORKERS = 2
POOL_MAX = 4
TASK_WORKER_CONNECTIONS = 3  # its main thread, its heartbeat thread and its LISTEN connection
BOUND = WEB_WORKERS * POOL_MAX + TASK_WORKER_CONNECTIONS
REQUESTS = 300

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


class Sampler(threading.Thread):
    """Counts the test database's backends every 10 ms from a connection to another database."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.samples: list[int] = []
        self.stop = threading.Event()

    def count(self, conn: psycopg.Connection[tuple[int]]) -> int:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    def run(self) -> None:
        db = settings.DATABASES["default"]
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres"
        ) as conn:
            conn.autocommit = True
            while not self.stop.wait(0.01):
                self.samples.append(self.count(conn))


async def load(url: str) -> list[int]:
    limits = httpx.Limits(max_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(i: int) -> int:
            if i % 3 == 2:
                response = await client.get("/smoke_orders/", params={"limit": "50"})
            else:
                body = {"meats": 1 + i % 6, "flavor": "Famous Dave's"}
                response = await client.post("/smoke_orders/", json=body)
            return response.status_code

        return await asyncio.gather(*(one(i) for i in range(REQUESTS)))


def test_connections_stay_within_pool_times_processes_under_load() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: set DATABASE_URL=postgres://... (CI runs it there)")
    database = settings.DATABASES["default"]["NAME"]
    # This process's own pooled connections would count too: hand them all back.
    connections.close_all()
    connection.close_pool()  # type: ignore[attr-defined]
    env = {
        "DATABASE_URL": worker_database_url(),
        "DATABASE_POOL_MIN": "1",
        "DATABASE_POOL_MAX": str(POOL_MAX),
        "DATABASE_POOL_MAX_IDLE": "1",
        "HELLO_ASYNC_TIME_SCALE": "0",
        "HELLO_ASYNC_LOG_LEVEL": "WARNING",
        "UPSTREAM_URL": "http://127.0.0.1:9",
    }
    server = Process(
        [sys.executable, "-m", "hello_async.cli", "--port", "0", "--workers", str(WEB_WORKERS)],
        env=env,
    )
    sampler = Sampler(database)
    try:
        url = server.wait_for(r"Uvicorn running on (http://\S+)").group(1)
        server.wait_for(r"Application startup complete")
        first = server.index(r"Application startup complete")
        server.wait_for(r"Application startup complete", start=first + 1)
        sampler.start()
        statuses = asyncio.run(load(url))
        assert statuses.count(202) == 2 * REQUESTS // 3
        assert statuses.count(200) == REQUESTS // 3
        peak = max(sampler.samples)
        # Back down once the burst is over: idle connections above min_size are closed.
        deadline = time.monotonic() + 30
        while (settled := sampler.samples[-1]) > WEB_WORKERS + TASK_WORKER_CONNECTIONS:
            assert time.monotonic() < deadline, f"still {settled} connections after 30 s"
            time.sleep(0.2)
    finally:
        sampler.stop.set()
        server.terminate()
        sampler.join(timeout=5)
    assert peak <= BOUND, f"{peak} connections > {WEB_WORKERS} x {POOL_MAX} + task worker"
    assert peak > TASK_WORKER_CONNECTIONS + WEB_WORKERS, "the load never used the pools"
    print(
        f"\npg_stat_activity: peak {peak} <= bound {BOUND} "
        f"({WEB_WORKERS} web workers x pool {POOL_MAX} + task worker {TASK_WORKER_CONNECTIONS}), "
        f"{settled} after the burst, {len(sampler.samples)} samples"
    )
