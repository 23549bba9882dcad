"""The orders board's feed: one poll for every watcher, the whole board first, then the changes.

The orders are scripted (the feed's read of the database replaced); the events are awaited, never
slept for."""

from __future__ import annotations

import asyncio
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hello_async.streams.broker import RedisBroker
from hello_async.streams.redis_broker import BACKOFF
from hello_async.streams.subscribers import Event, Streams, Subscriber
from hello_async.work import board, orders
from tests.live.test_broker import REDIS_URL, free_port, redis_is_up, start_redis

WITHIN = 5.0  # seconds an expected event may take (a poll is 0.01 s)


class Orders:
    """What the feed reads on each poll: the states set by the test; reads counted."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {"a": "READY", "b": "READY"}
        self.reads = 0
        self.closes = 0  # the database connections released after a read
        self.fail = 0  # the next reads that raise

    async def __call__(self, *, limit: int) -> list[dict[str, Any]]:
        self.reads += 1
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is down")
        return [{"id": i, "status": s} for i, s in self.states.items()][:limit]

    def close_old_connections(self) -> None:
        self.closes += 1


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Orders]:
    script = Orders()
    monkeypatch.setattr(orders, "smoke_order_alist_json", script)
    monkeypatch.setattr(board, "close_old_connections", script.close_old_connections)
    yield script


async def _next(subscriber: Subscriber) -> Event | None:
    return await subscriber.next(WITHIN)


@pytest.mark.asyncio
async def test_a_watcher_gets_the_board_then_only_the_order_that_moved(scripted: Orders) -> None:
    feed = board.BoardFeed(interval=0.01)
    watcher = Streams(max_subscribers=2, queue=50).subscribe("live")
    feed.watch(watcher)
    try:
        first = await _next(watcher)
        assert first == Event(
            "board", [{"id": "a", "status": "READY"}, {"id": "b", "status": "READY"}]
        )
        scripted.states["b"] = "RUNNING"
        assert await _next(watcher) == Event("order", {"id": "b", "status": "RUNNING"})
        scripted.states["b"] = "SUCCESSFUL"
        assert await _next(watcher) == Event("order", {"id": "b", "status": "SUCCESSFUL"})
    finally:
        feed.unwatch(watcher)


@pytest.mark.asyncio
async def test_a_second_watcher_gets_the_board_at_once_from_the_same_poll(
    scripted: Orders,
) -> None:
    feed = board.BoardFeed(interval=0.01)
    broker = Streams(max_subscribers=2, queue=50)
    one, two = broker.subscribe("live"), broker.subscribe("live")
    feed.watch(one)
    try:
        assert (await _next(one) or Event("", None)).name == "board"
        feed.watch(two)
        assert (await _next(two) or Event("", None)).name == "board"
        scripted.states["a"] = "FAILED"
        moved = Event("order", {"id": "a", "status": "FAILED"})
        assert await _next(one) == moved
        assert await _next(two) == moved
    finally:
        feed.unwatch(one)
        feed.unwatch(two)


@pytest.mark.asyncio
async def test_nobody_watching_stops_the_poll(scripted: Orders) -> None:
    feed = board.BoardFeed(interval=0.01)
    watcher = Streams(max_subscribers=1, queue=50).subscribe("live")
    feed.watch(watcher)
    await _next(watcher)
    task = feed._task
    assert task is not None
    feed.unwatch(watcher)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert feed._task is None


@pytest.mark.asyncio
async def test_a_failed_read_is_logged_and_the_poll_goes_on(
    scripted: Orders, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.fail = 2
    feed = board.BoardFeed(interval=0.01)
    watcher = Streams(max_subscribers=1, queue=50).subscribe("live")
    feed.watch(watcher)
    try:
        assert (await _next(watcher) or Event("", None)).name == "board"
        assert scripted.reads >= 3
        # Each read, failed or not, gives its database connection back.
        assert scripted.closes >= 3
        # Two failed reads, one traceback; the recovery said once.
        assert caplog.text.count("could not read the orders") == 1
        assert caplog.text.count("reads the orders again") == 1
    finally:
        feed.unwatch(watcher)


# --- across processes: a real Redis, a channel prefix of the test's own -------------------------


@pytest.fixture
def redis_pair() -> Iterator[tuple[RedisBroker, RedisBroker]]:
    """Two brokers as two processes see Redis: this web process's, and a task worker's."""
    if not redis_is_up():
        pytest.skip("Redis is not running on :6379")
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    pair = RedisBroker(REDIS_URL, prefix=prefix), RedisBroker(REDIS_URL, prefix=prefix)
    yield pair
    for broker in pair:
        broker.close()


def order(id_: str, status: str, attempts: int = 0) -> dict[str, Any]:
    return {"id": id_, "status": status, "attempts": attempts, "enqueued_at": f"2026-01-01T{id_}"}


@pytest.mark.asyncio
async def test_across_processes_one_read_then_every_transition_as_published(
    scripted: Orders, redis_pair: tuple[RedisBroker, RedisBroker]
) -> None:
    here, worker = redis_pair
    feed = board.BoardFeed(interval=0.01, broker=here)
    watcher = Streams(max_subscribers=2, queue=50).subscribe("board")
    feed.watch(watcher)
    try:
        assert (await _next(watcher) or Event("", None)).name == "board"
        for state, attempts in [("RUNNING", 1), ("READY", 1), ("RUNNING", 2), ("SUCCESSFUL", 2)]:
            board.publish_order(order("b", state, attempts), broker=worker)
            assert await _next(watcher) == Event("order", order("b", state, attempts))
        assert scripted.reads == 1  # the board read once; each change pushed, none polled
    finally:
        feed.unwatch(watcher)


@pytest.mark.asyncio
async def test_a_late_message_does_not_move_an_order_back(
    scripted: Orders, redis_pair: tuple[RedisBroker, RedisBroker]
) -> None:
    here, worker = redis_pair
    feed = board.BoardFeed(interval=0.01, broker=here)
    watcher = Streams(max_subscribers=2, queue=50).subscribe("board")
    feed.watch(watcher)
    try:
        await _next(watcher)
        board.publish_order(order("c", "RUNNING", 1), broker=worker)
        board.publish_order(order("c", "READY", 0), broker=worker)  # the web's, arriving late
        board.publish_order(order("c", "SUCCESSFUL", 1), broker=worker)
        assert await _next(watcher) == Event("order", order("c", "RUNNING", 1))
        assert await _next(watcher) == Event("order", order("c", "SUCCESSFUL", 1))
    finally:
        feed.unwatch(watcher)


@pytest.mark.asyncio
async def test_a_missed_message_makes_the_feed_read_the_board_again(
    scripted: Orders, redis_pair: tuple[RedisBroker, RedisBroker]
) -> None:
    here, worker = redis_pair
    feed = board.BoardFeed(interval=0.01, broker=here)
    watcher = Streams(max_subscribers=2, queue=50).subscribe("board")
    feed.watch(watcher)
    try:
        await _next(watcher)
        message = {"publisher": "w1", "seq": 1, "order": order("a", "RUNNING", 1)}
        worker.publish(board.CHANNEL, message)
        assert await _next(watcher) == Event("order", order("a", "RUNNING", 1))
        scripted.states["a"] = "SUCCESSFUL"  # what the lost message (seq 2) said
        worker.publish(board.CHANNEL, {**message, "seq": 3, "order": order("b", "RUNNING", 1)})
        got = [await _next(watcher), await _next(watcher)]
        resynced = next(e for e in got if e is not None and e.name == "board")
        assert {"id": "a", "status": "SUCCESSFUL"} in resynced.data
        assert scripted.reads == 2
    finally:
        feed.unwatch(watcher)


@pytest.mark.asyncio
async def test_after_redis_comes_back_the_board_is_read_again_and_sent_whole(
    scripted: Orders,
) -> None:
    if not redis_is_up():
        pytest.skip("Redis is not running on :6379")
    port = free_port()
    server = start_redis(port)
    here = RedisBroker(f"redis://127.0.0.1:{port}/0", prefix="board-test:")
    feed = board.BoardFeed(interval=0.01, broker=here)
    watcher = Streams(max_subscribers=2, queue=50).subscribe("board")
    feed.watch(watcher)
    try:
        assert (await _next(watcher) or Event("", None)).name == "board"
        server.terminate()
        await asyncio.to_thread(server.wait)
        scripted.states["a"] = "SUCCESSFUL"  # while Redis was away: its message was lost
        server = start_redis(port)
        # Subscribed again (within the broker's backoff): one read, the whole board sent.
        again = await watcher.next(WITHIN + BACKOFF[1] * 2)
        assert again is not None and again.name == "board"
        assert {"id": "a", "status": "SUCCESSFUL"} in again.data
        assert scripted.reads == 2
    finally:
        feed.unwatch(watcher)
        here.close()
        server.terminate()
        server.wait()


@pytest.mark.django_db(transaction=True)
def test_a_queued_order_and_its_retry_are_published_by_whoever_made_them(
    redis_pair: tuple[RedisBroker, RedisBroker],
) -> None:
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from hello_async.streams import broker as broker_module
    from hello_async.work.signals import task_requeued
    from hello_async.work.tasks import smoke_order

    listener, _ = redis_pair
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    ready = threading.Event()
    listener.subscribe(board.CHANNEL, got.put, on_ready=ready.set)
    assert ready.wait(WITHIN)
    publisher = broker_module.configure(REDIS_URL, prefix=listener.prefix)  # as apps.py does
    try:
        queued = smoke_order.enqueue(meats=["ribs"], flavor="Famous Dave's")  # task_enqueued
        first = got.get(timeout=WITHIN)
        assert first["order"]["id"] == queued.id and first["order"]["status"] == "READY"
        # A worker's retry: the row READY again after an attempt; task_requeued publishes it.
        DBTaskResult.objects.filter(id=queued.id).update(
            status=TaskResultStatus.READY, worker_ids=["w1"]
        )
        task_requeued.send(sender=DBTaskResult, task_id=queued.id)
        retried = got.get(timeout=WITHIN)
        assert retried["order"]["attempts"] == 1 and retried["order"]["status"] == "READY"
        assert retried["publisher"] == first["publisher"] and retried["seq"] == first["seq"] + 1
        assert publisher.crosses_processes
    finally:
        broker_module.configure("")
