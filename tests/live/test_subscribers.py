"""Subscribers: bounded in number, a laggard dropped with a last event, events from any thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from hello_async.streams.subscribers import Event, Streams, StreamsFull, Subscriber


async def drain(subscriber: Subscriber) -> AsyncIterator[Event]:
    """Every event until the end."""
    while (event := await subscriber.next(None)) is not None:
        yield event


@pytest.mark.asyncio
async def test_at_most_n_subscribers_and_a_closed_one_frees_its_place() -> None:
    broker = Streams(max_subscribers=2, queue=10)
    first, _ = broker.subscribe("live"), broker.subscribe("live")
    with pytest.raises(StreamsFull) as busy:
        broker.subscribe("live")
    assert busy.value.status_code == 503 and busy.value.retry_after == 5
    assert broker.refused_total == 1
    first.close()
    first.close()  # twice: still one place
    broker.subscribe("live")
    assert len(broker) == 2


@pytest.mark.asyncio
async def test_a_consumer_past_the_queue_is_dropped_with_a_last_event() -> None:
    broker = Streams(max_subscribers=1, queue=3)
    subscriber = broker.subscribe("live")
    for n in range(5):
        subscriber.publish(Event("line", str(n)))
    got = [event async for event in drain(subscriber)]
    assert got == [Event("dropped", {"reason": "too slow", "limit": 3})]
    assert subscriber.dropped
    assert broker.dropped_total == 1


@pytest.mark.asyncio
async def test_events_published_from_another_thread_arrive_in_order() -> None:
    subscriber = Streams(max_subscribers=1, queue=100).subscribe("live")

    def publish() -> None:
        for n in range(10):
            subscriber.publish(Event("line", str(n)))
        subscriber.end()

    thread = threading.Thread(target=publish)
    thread.start()
    got = [event.data async for event in drain(subscriber)]
    thread.join()
    assert got == [str(n) for n in range(10)]


def test_an_event_is_encoded_as_sse() -> None:
    assert Event("line", "1").encode() == b"event: line\ndata: 1\n\n"
    assert Event("line", "a\nb").encode() == b"event: line\ndata: a\ndata: b\n\n"
    assert Event("order", {"id": "x"}).encode() == b'event: order\ndata: {"id":"x"}\n\n'


@pytest.mark.asyncio
async def test_next_times_out_when_nothing_comes() -> None:
    subscriber = Streams(max_subscribers=1, queue=1).subscribe("live")
    with pytest.raises(TimeoutError):
        await subscriber.next(0.01)
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_end_endless_ends_the_feeds_and_leaves_the_streams_with_an_end() -> None:
    broker = Streams(max_subscribers=3, queue=10)
    feed, finite = broker.subscribe("board", endless=True), broker.subscribe("live")
    assert broker.end_endless() == 1
    got = [event async for event in drain(feed)]
    assert got == [Event("closing", {"reason": "the server is shutting down"})]
    finite.publish(Event("line", "still here"))
    assert await finite.next(1.0) == Event("line", "still here")
    feed.close()
    assert broker.end_endless() == 0  # a closed feed is forgotten


@pytest.mark.asyncio
async def test_after_shutdown_began_no_feed_opens_but_a_finite_stream_does() -> None:
    broker = Streams(max_subscribers=3, queue=10)
    broker.end_endless()
    with pytest.raises(StreamsFull, match="shutting down"):
        broker.subscribe("board", endless=True)
    broker.subscribe("live")


def test_a_carriage_return_starts_a_new_data_line_and_cannot_add_a_field() -> None:
    event = Event("error", "a\rid: 7\r\nb")
    assert event.encode() == b"event: error\ndata: a\ndata: id: 7\ndata: b\n\n"
    assert Event("line", "").encode() == b"event: line\ndata: \n\n"
    assert event.encode() is event.encode()  # made once


@pytest.mark.asyncio
async def test_each_feed_has_its_own_cap() -> None:
    streams = Streams(max_subscribers={"live": 1, "console": 2, "board": 1}, queue=10)
    boards = [streams.subscribe("board", endless=True)]
    with pytest.raises(StreamsFull):  # a crowd on the board ...
        boards.append(streams.subscribe("board", endless=True))
    live = streams.subscribe("live")  # ... leaves the live view and the consoles open
    consoles = [streams.subscribe("console", endless=True) for _ in range(2)]
    with pytest.raises(StreamsFull):
        streams.subscribe("console", endless=True)
    assert (streams.open("board"), streams.open("live"), streams.open("console")) == (1, 1, 2)
    assert len(streams) == 4 and streams.refused_total == 2
    boards[0].close()
    streams.subscribe("board", endless=True)  # its place back
    live.close()
    for console in consoles:
        console.close()


def test_an_event_with_an_id_sends_it_first_and_on_one_line() -> None:
    assert Event("line", "1", id="r:1").encode() == b"id: r:1\nevent: line\ndata: 1\n\n"
    assert Event("line", "1", id="r\n:2").encode().startswith(b"id: r:2\n")
