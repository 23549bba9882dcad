"""hello_async.fastpath.signals: Django's own receivers inline on the loop; any other receiver
where Django runs it, in the request's thread, as a new user connecting one expects."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from django.core import signals
from django.db import reset_queries
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.urls import path

from hello_async.fastpath.handler import FastASGIHandler
from hello_async.fastpath.receivers import DJANGOS
from hello_async.fastpath.signals import inline_receivers
from hello_async.models import SmokeRun

marks = threading.local()


def sync_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(getattr(marks, "value", "unmarked"))


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async")


urlpatterns = [path("sync/", sync_view), path("async/", async_view)]

Connect = Callable[[Signal, Callable[..., Any]], None]


@pytest_asyncio.fixture
async def client(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings.ROOT_URLCONF = __name__
    transport = httpx.ASGITransport(app=FastASGIHandler())
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client
    marks.__dict__.clear()  # (the old fast path marked the loop's thread)


@pytest.fixture
def connect() -> Iterator[Connect]:
    connected: list[tuple[Signal, Callable[..., Any]]] = []

    def connect(signal: Signal, receiver: Callable[..., Any]) -> None:
        signal.connect(receiver)
        connected.append((signal, receiver))

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_sync_receiver_using_the_orm_runs_in_the_requests_thread(
    client: httpx.AsyncClient, connect: Connect, hops: list[str]
) -> None:
    ran: list[tuple[int, int]] = []

    def count_runs(**kwargs: Any) -> None:
        ran.append((threading.get_ident(), SmokeRun.objects.count()))

    connect(signals.request_started, count_runs)
    response = await client.get("/async/")
    assert response.status_code == 200
    assert len(ran) == 1
    thread, runs = ran[0]
    assert runs == 0
    assert thread != threading.get_ident()  # not the loop's: blocking there would stall it
    assert hops  # sent as Django sends it


@pytest.mark.asyncio
async def test_a_thread_local_set_in_request_started_is_seen_by_a_sync_view(
    client: httpx.AsyncClient, connect: Connect
) -> None:
    def mark(**kwargs: Any) -> None:
        marks.value = "marked in request_started"

    connect(signals.request_started, mark)
    response = await client.get("/sync/")
    assert response.text == "marked in request_started"


@pytest.mark.asyncio
async def test_a_sync_request_finished_receiver_runs_off_the_loop(
    client: httpx.AsyncClient, connect: Connect
) -> None:
    ran_in: list[int] = []
    connect(signals.request_finished, lambda **kwargs: ran_in.append(threading.get_ident()))
    response = await client.get("/async/")
    assert response.status_code == 200
    assert len(ran_in) == 1
    assert ran_in[0] != threading.get_ident()


@pytest.mark.asyncio
@pytest.mark.parametrize("names", [("finished",), ("started", "finished")])
async def test_async_receivers_are_awaited_on_the_loop(
    client: httpx.AsyncClient, connect: Connect, names: tuple[str, ...]
) -> None:
    ran_in: list[tuple[str, int]] = []

    async def note(signal: Signal, **kwargs: Any) -> None:
        name = "started" if signal is signals.request_started else "finished"
        ran_in.append((name, threading.get_ident()))

    for name in names:
        connect(signals.request_started if name == "started" else signals.request_finished, note)
    response = await client.get("/async/")
    assert response.status_code == 200
    assert ran_in == [(name, threading.get_ident()) for name in names]


@pytest.mark.asyncio
async def test_with_only_djangos_receivers_a_request_makes_no_thread_hop(
    client: httpx.AsyncClient, hops: list[str], inline_sends: list[tuple[Any, int]]
) -> None:
    for signal in (signals.request_started, signals.request_finished):
        sync_receivers, async_receivers = signal._live_receivers(FastASGIHandler)
        assert set(sync_receivers) <= DJANGOS
        assert not async_receivers
    response = await client.get("/async/")
    assert response.text == "async"
    assert hops == []
    loop = threading.get_ident()
    assert inline_sends == [(signals.request_started, loop), (signals.request_finished, loop)]


def test_the_remembered_answer_follows_connects_and_disconnects() -> None:
    signal, sender = signals.request_started, FastASGIHandler
    djangos = inline_receivers(signal, sender)
    assert djangos is not None and DJANGOS.issuperset(djangos)

    def foreign(**kwargs: Any) -> None:
        pass

    signal.connect(foreign)
    try:
        assert inline_receivers(signal, sender) is None  # asked again, not remembered
    finally:
        signal.disconnect(foreign)
    assert inline_receivers(signal, sender) == djangos

    signal.connect(foreign, sender=HttpResponse)  # another sender's receiver: not ours
    try:
        assert inline_receivers(signal, sender) == djangos
        assert inline_receivers(signal, HttpResponse) is None
    finally:
        signal.disconnect(foreign, sender=HttpResponse)


def test_a_receiver_that_died_leaves_the_answer_right() -> None:
    signal, sender = Signal(), FastASGIHandler
    signal.connect(reset_queries)
    djangos = inline_receivers(signal, sender)
    assert djangos == [reset_queries]

    def foreign(**kwargs: Any) -> None:
        pass

    signal.connect(foreign)  # weakly, as Django's default
    assert inline_receivers(signal, sender) is None
    del foreign
    gc.collect()
    # Until Django clears the dead entry the slow path is taken, which clears it (any send).
    signal.send(sender=sender)
    assert inline_receivers(signal, sender) == djangos
