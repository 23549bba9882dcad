"""How soon an idle task worker starts a queued order, and what idle workers ask the database.

    uv run python scripts/pickup.py [--workers 3] [--orders 10] [--window 30] [--env NAME=VALUE]

On a scratch PostgreSQL database (created, migrated, dropped): N ``hello-async worker``
processes; first the transactions they make while idle over ``--window`` seconds
(``pg_stat_database``), then ``--orders`` orders queued one after another, each once the previous
one started, timed from their rows (``started_at - enqueued_at``). ``--env
HELLO_ASYNC_TASK_LISTEN=0 --env HELLO_ASYNC_TASK_POLL_INTERVAL=1`` gives the workers as they were
before LISTEN/NOTIFY (docs/deploy.md, "Pickup").
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="hello_async_pickup")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--orders", type=int, default=10)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the workers")
    args = parser.parse_args()
    url = f"{args.server}/{args.database}"
    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.database))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.database)))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "hello_async.settings",
        "HELLO_ASYNC_TIME_SCALE": "0",
        "UPSTREAM_URL": "http://127.0.0.1:9",  # orders never call it
        **dict(pair.split("=", 1) for pair in args.env),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    command = [sys.executable, "-m", "hello_async.cli", "worker"]
    workers = [
        subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(args.workers)
    ]
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            idle(conn, args.database, args.workers, args.window)
        os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="hello_async.settings")
        pickup(args.orders)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(args.database)
                )
            )
    return 0


def idle(conn: psycopg.Connection[tuple[int]], database: str, workers: int, window: float) -> None:
    while conn.execute("SELECT count(*) FROM hello_async_taskworker").fetchone() != (workers,):
        time.sleep(0.2)
    time.sleep(3)  # past their start-up

    def transactions() -> int:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            [database],
        ).fetchone()
        assert row is not None
        return int(row[0])

    before = transactions()
    time.sleep(window)
    made = transactions() - before - 1  # less this script's own reads
    print(
        f"idle: {made / window / workers:.2f} transactions a second per worker"
        f" ({workers} workers, {window:g} s)"
    )


def pickup(orders: int) -> None:
    import django

    django.setup()
    from django_tasks_db.models import DBTaskResult

    from hello_async.work.tasks import smoke_order

    waits = []
    for _ in range(orders):
        task_id = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's").id
        while (row := DBTaskResult.objects.get(id=task_id)).started_at is None:
            time.sleep(0.005)
        waits.append((row.started_at - row.enqueued_at).total_seconds() * 1000)
        time.sleep(random.uniform(0.2, 0.7))  # idle again, at any point of a poll
    print("queue-to-start (ms):", " ".join(f"{wait:.0f}" for wait in waits))
    print(f"median {statistics.median(waits):.0f} ms, max {max(waits):.0f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
