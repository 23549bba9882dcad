"""A stream's life (hello_async.live.sse): nothing started before it is sent, everything undone
after, its place given back on every path; and no stream under WSGI."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from django.test import AsyncClient, Client

from hello_async.streams.sse import HEARTBEAT, OPEN, sse_response
from hello_async.streams.subscribers import Event, Streams


class Hooks:
    def __init__(self, *, fail_on_close: bool = False) -> None:
        self.started = 0
        self.closed = 0
        self.closed_in: list[int] = []
        self.fail_on_close = fail_on_close
        self.closed_event = asyncio.Event()

    def start(self) -> None:
        self.started += 1

    def close(self) -> None:
        self.closed += 1
        self.closed_in.append(threading.get_ident())
        self.closed_event.set()
        if self.fail_on_close:
            raise RuntimeError("boom")


@pytest.mark.asyncio
async def test_a_response_never_sent_starts_nothing_and_gives_its_place_back() -> None:
    broker = Streams(max_subscribers=1, queue=10)
    hooks = Hooks()
    response = sse_response(broker.subscribe("live"), on_start=hooks.start, on_close=hooks.close)
    assert len(broker) == 1
    del response  # dropped, as when the client leaves while the middleware runs
    gc.collect()
    assert len(broker) == 0
    assert (hooks.started, hooks.closed) == (0, 0)


@pytest.mark.asyncio
async def test_it_starts_when_sent_and_ends_once_when_done() -> None:
    broker = Streams(max_subscribers=1, queue=10)
    hooks = Hooks()
    subscriber = broker.subscribe("live")
    response = sse_response(subscriber, on_start=hooks.start, on_close=hooks.close)
    subscriber.publish(Event("line", "1"))
    subscriber.end()
    chunks = [chunk async for chunk in response]
    assert chunks == [OPEN, b"event: line\ndata: 1\n\n"]
    response.close()  # Django closes it after the body: nothing runs twice
    assert (hooks.started, hooks.closed) == (1, 1)
    assert len(broker) == 0


@pytest.mark.asyncio
async def test_a_close_from_a_thread_runs_on_the_loop_and_a_failing_hook_frees_the_place() -> None:
    broker = Streams(max_subscribers=1, queue=10)
    hooks = Hooks(fail_on_close=True)
    response = sse_response(broker.subscribe("live"), on_start=hooks.start, on_close=hooks.close)
    stream = aiter(response)
    assert await anext(stream) == OPEN
    loop_thread = threading.get_ident()
    # Django's stock handler closes a response with sync_to_async(response.close): a thread.
    thread = threading.Thread(target=response.close)
    thread.start()
    thread.join()
    async with asyncio.timeout(5):
        await hooks.closed_event.wait()
    assert hooks.closed_in == [loop_thread]
    assert len(broker) == 0  # the hook raised: the place came back all the same


def test_under_wsgi_a_stream_is_a_501_not_a_worker_held_for_ever() -> None:
    for path in ("/smoke_some_meats/live/", "/smoke_orders/board/events/"):
        response = Client().get(path)
        assert response.status_code == 501, path
        assert b"Event streams need an ASGI server" in response.content


@pytest.mark.asyncio
async def test_a_live_smoke_that_fails_unexpectedly_ends_with_an_error_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hello_async.article import kitchen

    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(kitchen, "asmoke_some_meats", broken)
    response = await AsyncClient().get("/smoke_some_meats/live/")
    assert response.status_code == 200
    body = b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[attr-defined]
    assert body.endswith(b"event: error\ndata: Internal error: the smoke failed.\n\n")


@pytest.mark.asyncio
async def test_an_endless_stream_past_its_age_ends_with_a_retry_hint_and_frees_its_place() -> None:
    streams = Streams(max_subscribers=1, queue=10)
    hooks = Hooks()
    feed = streams.subscribe("console", endless=True)
    response = sse_response(feed, on_start=hooks.start, on_close=hooks.close, max_age=0.05)
    async with asyncio.timeout(5):
        chunks = [chunk async for chunk in response]
    assert chunks[0] == OPEN and chunks[-1].startswith(b"retry: ")
    retry = int(chunks[-1].decode().split()[1])
    assert 1000 <= retry <= 3000  # the browser comes back in 1 to 3 s, maybe to another process
    assert (hooks.started, hooks.closed) == (1, 1)
    assert len(streams) == 0


@pytest.mark.asyncio
async def test_a_busy_stream_past_its_age_ends_too() -> None:
    streams = Streams(max_subscribers=1, queue=1000)
    feed = streams.subscribe("board", endless=True)
    response = sse_response(feed, max_age=0.05, heartbeat=10)
    chunks: list[bytes] = []
    async with asyncio.timeout(5):
        async for chunk in response:
            chunks.append(chunk)
            feed.publish(Event("order", {"n": len(chunks)}))  # never idle
    assert chunks[-1].startswith(b"retry: ") and len(chunks) > 2
    assert len(streams) == 0


@pytest.mark.asyncio
async def test_a_stream_with_an_end_of_its_own_has_no_age() -> None:
    streams = Streams(max_subscribers=1, queue=10)
    subscriber = streams.subscribe("live")
    response = sse_response(subscriber, heartbeat=0.01)
    stream = aiter(response)
    assert await anext(stream) == OPEN
    assert [await anext(stream) for _ in range(3)] == [HEARTBEAT] * 3
    subscriber.end()
    assert [chunk async for chunk in stream] == []
