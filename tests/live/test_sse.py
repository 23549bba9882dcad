"""A stream's life (hello_async.live.sse): nothing started before it is sent, everything undone
after, its place given back on every path; and no stream under WSGI."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from django.test import AsyncClient, Client

from hello_async.streams.sse import OPEN, sse_response
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
