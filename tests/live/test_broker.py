"""The broker (hello_async.streams.broker): in-process by default; across processes on a real
Redis, with a unique channel prefix per test; an outage logged, retried, shown as degraded, and
never a blocked or failed publish."""

from __future__ import annotations

import asyncio
import queue
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.test import AsyncClient

from hello_async.streams import broker as broker_module
from hello_async.streams.broker import GapDetector, LocalBroker, Message, RedisBroker
from hello_async.streams.redis_broker import BACKOFF

REDIS_URL = "redis://127.0.0.1:6379/0"
WITHIN = 5.0  # seconds a message or a state change may take


def redis_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_is_up(), reason="Redis is not running on :6379")


def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


class Inbox:
    """A handler and an on_ready that queue what they get."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.readies: queue.Queue[float] = queue.Queue()

    def handler(self, message: Message) -> None:
        self.messages.put(message)

    def ready(self) -> None:
        self.readies.put(time.monotonic())

    def get(self) -> Message:
        return self.messages.get(timeout=WITHIN)


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def brokers(prefix: str) -> Iterator[list[RedisBroker]]:
    made: list[RedisBroker] = []
    yield made
    for broker in made:
        broker.close()


def test_in_process_a_publish_reaches_the_channels_subscribers_only() -> None:
    broker = LocalBroker()
    mine, other = Inbox(), Inbox()
    subscription = broker.subscribe("console:a", mine.handler, on_ready=mine.ready)
    broker.subscribe("console:b", other.handler)
    assert mine.readies.qsize() == 1  # live at once
    broker.publish("console:a", {"n": 1})
    assert mine.get() == {"n": 1}
    assert other.messages.empty()
    subscription.close()
    broker.publish("console:a", {"n": 2})
    assert mine.messages.empty()
    assert not broker.has_subscribers("console:a") and broker.status() is None


@needs_redis
def test_a_message_published_by_one_process_reaches_another_in_order(
    prefix: str, brokers: list[RedisBroker]
) -> None:
    here, there = RedisBroker(REDIS_URL, prefix=prefix), RedisBroker(REDIS_URL, prefix=prefix)
    brokers += [here, there]
    inbox = Inbox()
    here.subscribe("board", inbox.handler, on_ready=inbox.ready)
    inbox.readies.get(timeout=WITHIN)  # Redis confirmed the subscription: nothing is missed now
    for n in range(200):
        there.publish("board", {"n": n})
    assert [inbox.get()["n"] for _ in range(200)] == list(range(200))
    assert here.status() == ("broker: ok (redis)\n", True)


@needs_redis
def test_a_publish_from_a_thread_without_a_loop_is_sent(
    prefix: str, brokers: list[RedisBroker]
) -> None:
    here, there = RedisBroker(REDIS_URL, prefix=prefix), RedisBroker(REDIS_URL, prefix=prefix)
    brokers += [here, there]
    inbox = Inbox()
    here.subscribe("board", inbox.handler, on_ready=inbox.ready)
    inbox.readies.get(timeout=WITHIN)
    # As the task worker publishes: its main thread, no event loop, the broker not started yet.
    thread = threading.Thread(target=there.publish, args=("board", {"from": "worker"}))
    thread.start()
    thread.join()
    assert inbox.get() == {"from": "worker"}


@needs_redis
def test_unsubscribed_channels_stop_arriving(prefix: str, brokers: list[RedisBroker]) -> None:
    here, there = RedisBroker(REDIS_URL, prefix=prefix), RedisBroker(REDIS_URL, prefix=prefix)
    brokers += [here, there]
    gone, kept = Inbox(), Inbox()
    subscription = here.subscribe("console:x", gone.handler, on_ready=gone.ready)
    here.subscribe("console:y", kept.handler, on_ready=kept.ready)
    gone.readies.get(timeout=WITHIN)
    kept.readies.get(timeout=WITHIN)
    subscription.close()
    there.publish("console:x", {"n": 1})
    there.publish("console:y", {"n": 2})
    assert kept.get() == {"n": 2}  # sent after x's: x's would have come first
    assert gone.messages.empty()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    until(lambda: _accepts(port), "redis-server did not start")
    return process


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@needs_redis
def test_redis_going_away_is_degraded_dropped_not_blocking_then_resubscribed(
    prefix: str, brokers: list[RedisBroker], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    here, there = RedisBroker(url, prefix=prefix), RedisBroker(url, prefix=prefix)
    brokers += [here, there]
    try:
        inbox = Inbox()
        here.subscribe("board", inbox.handler, on_ready=inbox.ready)
        inbox.readies.get(timeout=WITHIN)
        there.publish("board", {"n": 1})
        assert inbox.get() == {"n": 1}
        server.terminate()
        server.wait()
        until(lambda: not here.connected, "the lost connection was not noticed")
        status = here.status()
        assert status is not None and status[0].startswith("broker: degraded (redis unreachable")
        dropped = there.dropped_total
        started = time.monotonic()
        for n in range(1000):
            there.publish("board", {"n": n})  # Redis away: each returns at once
        assert time.monotonic() - started < 1.0
        until(lambda: there.dropped_total >= dropped + 1000 or not there.failing, "not counted")
        server = start_redis(port)
        # Subscribed again (after the backoff, at most 5 s): a subscriber re-reads its state.
        inbox.readies.get(timeout=WITHIN + BACKOFF[1] * 2)
        assert here.status() == ("broker: ok (redis)\n", True)
        deadline = time.monotonic() + WITHIN + BACKOFF[1] * 2
        while not there.connected:
            assert time.monotonic() < deadline, "the publisher's broker did not come back"
            time.sleep(0.01)
        there.publish("board", {"n": "again"})
        assert inbox.get() == {"n": "again"}
        text = caplog.text
    finally:
        server.terminate()
        server.wait()
    assert text.count("unreachable") == 2  # once per broker, not once per retry
    assert "reachable again" in text


def test_an_unreachable_redis_never_fails_a_publish(
    prefix: str, brokers: list[RedisBroker]
) -> None:
    broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix, buffer=10)
    brokers.append(broker)
    for n in range(100):
        broker.publish("board", {"n": n})  # first queued (bounded), then dropped once it failed
    until(lambda: broker.failing, "the outage was not noticed")
    assert broker.dropped_total >= 90
    status = broker.status()
    assert status is not None and not status[1]


def test_a_gap_in_a_publishers_numbers_is_seen() -> None:
    gaps = GapDetector()
    assert not gaps.missed("a", 5)  # the first seen from a publisher: nothing to compare
    assert not gaps.missed("a", 6)
    assert gaps.missed("a", 8)
    assert not gaps.missed("b", 1)


@needs_redis
def test_readiness_asks_redis_even_before_the_broker_is_used(
    prefix: str, brokers: list[RedisBroker]
) -> None:
    broker = RedisBroker(REDIS_URL, prefix=prefix)
    brokers.append(broker)
    first = broker.status()  # starts it: connecting, not degraded
    assert first is not None and first[1]
    until(lambda: broker.status() == ("broker: ok (redis)\n", True), "not connected")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_readyz_shows_redis_away_as_degraded_and_still_answers_200(
    serving: object, fake_upstream: object, prefix: str
) -> None:
    unreachable = broker_module.configure(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix)
    try:
        assert isinstance(unreachable, RedisBroker)
        unreachable.status()  # starts it
        deadline = time.monotonic() + WITHIN
        while not unreachable.failing:
            assert time.monotonic() < deadline, "the outage was not noticed"
            await asyncio.sleep(0.01)
        response = await AsyncClient().get("/readyz")
        assert response.status_code == 200  # the live feeds' broker never fails the probe
        assert b"database: ok" in response.content
        assert b"broker: degraded (redis unreachable for" in response.content
    finally:
        broker_module.configure("")
