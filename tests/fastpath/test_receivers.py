"""hello_async.fastpath.receivers: the same answers as asgiref's Local, the same effects as Django's
request signal receivers."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.local import Local
from django.core import signals
from django.core.cache import caches, close_caches
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, connections, reset_queries
from django.http import HttpResponse
from django.urls import base as urls_base
from django.urls import get_urlconf, set_urlconf

from hello_async.fastpath.receivers import DJANGOS, FAST, local_has, only_urlconf_to_reset
from hello_async.fastpath.signals import close_inline, send_inline


def _locals() -> list[Local]:
    return [
        connections._connections,  # type: ignore[attr-defined]
        caches._connections,  # type: ignore[attr-defined]
        urls_base._urlconfs,  # type: ignore[attr-defined]
        Local(),
        Local(thread_critical=True),
    ]


NAMES = ["default", "value", "other", "_storage", "_data", "cvar"]


def _agree(local: Local) -> None:
    for name in NAMES:
        assert local_has(local, name) == hasattr(local, name), (local, name)


@pytest.mark.asyncio
@pytest.mark.parametrize("index", range(5))
async def test_local_has_answers_as_hasattr(index: int) -> None:
    local = _locals()[index]
    _agree(local)  # nothing set (or whatever this loop thread holds)

    async def in_a_task() -> None:
        setattr(local, "value", 1)  # noqa: B010
        setattr(local, "other", 2)  # noqa: B010
        _agree(local)
        delattr(local, "other")
        _agree(local)
        delattr(local, "value")
        _agree(local)

    await asyncio.create_task(in_a_task())
    _agree(local)

    def in_a_thread() -> None:
        setattr(local, "value", 3)  # noqa: B010

    await asyncio.to_thread(in_a_thread)  # a sync thread's storage: not this thread's
    _agree(local)
    setattr(local, "value", 4)  # noqa: B010
    try:
        _agree(local)
        assert local_has(local, "value")
        await asyncio.to_thread(lambda: _agree(local))  # off the loop
    finally:
        delattr(local, "value")
    _agree(local)


def _effects(
    receiver: Callable[..., Any], touch: bool, monkeypatch: pytest.MonkeyPatch
) -> list[Any]:
    """What a receiver did to this context's connections and caches, and to the urlconf."""
    calls: list[Any] = []
    if touch:  # a connection and a cache opened on the loop, in this request's context
        connections["default"]  # noqa: B018
        caches["default"]  # noqa: B018
    try:
        for conn in connections.all(initialized_only=True):
            monkeypatch.setattr(conn, "close_if_unusable_or_obsolete", lambda: calls.append("db"))
            conn.queries_log.append({"sql": "SELECT 1"})
        for cache in caches.all(initialized_only=True):
            monkeypatch.setattr(cache, "close", lambda **kw: calls.append("cache"))
        set_urlconf("hello_async.urls")
        receiver(signal=signals.request_finished, sender=None)
        queries = [len(conn.queries_log) for conn in connections.all(initialized_only=True)]
        return [calls, queries, get_urlconf(None)]
    finally:
        set_urlconf(None)
        if touch:
            del connections["default"]
            del caches["default"]


@pytest.mark.asyncio
@pytest.mark.parametrize("touch", [False, True])
@pytest.mark.parametrize(
    "django_receiver", [reset_queries, close_old_connections, close_caches, reset_urlconf]
)
async def test_each_receiver_does_what_djangos_does(
    django_receiver: Callable[..., Any], touch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _effects(django_receiver, touch, monkeypatch)
    assert _effects(FAST[django_receiver], touch, monkeypatch) == expected
    if touch and django_receiver is not reset_urlconf:
        assert expected[:2] != [[], [1]]  # it did act on what was opened


@pytest.mark.asyncio
@pytest.mark.parametrize("extra", [False, True])
async def test_close_response_does_what_response_close_does(extra: bool) -> None:
    async def closed(close: Callable[[Any], None]) -> list[Any]:
        seen: list[Any] = []

        def record(**kwargs: Any) -> None:
            seen.append(sorted(kwargs.items(), key=lambda kv: kv[0]))

        response = HttpResponse("x")
        response._handler_class = object  # type: ignore[attr-defined]
        response._resource_closers.append(lambda: seen.append("closer"))  # type: ignore[attr-defined]
        response._resource_closers.append(lambda: 1 / 0)  # type: ignore[attr-defined]
        if extra:
            signals.request_finished.connect(record)
        try:
            close(response)
        finally:
            signals.request_finished.disconnect(record)
        return [seen, response.closed, response._resource_closers]  # type: ignore[attr-defined]

    def inline(response: Any) -> None:
        receivers, _ = signals.request_finished._live_receivers(response._handler_class)
        close_inline(response, receivers)

    assert await closed(inline) == await closed(lambda r: r.close())


def test_djangos_receivers_are_the_ones_django_connects() -> None:
    """A receiver Django adds to a request signal fails this: read it, then add it to DJANGOS if
    it is as safe on the loop (until then it sends the signal Django's way, in a thread)."""
    connected = {
        receiver
        for signal in (signals.request_started, signals.request_finished)
        for receiver in signal._live_receivers(None)[0]
    }
    assert connected == DJANGOS
    assert set(FAST) == DJANGOS


def test_off_the_loop_too() -> None:
    for local in _locals():
        _agree(local)


OPENED = ["nothing", "urlconf", "connection", "queries", "connected", "cache"]


def _open(opened: str) -> None:
    """In this task's context: what a request may have opened by the time a signal is sent."""
    if opened == "urlconf":
        set_urlconf("hello_async.urls")
    elif opened in ("connection", "queries", "connected"):
        conn = connections["default"]  # this task's connection object, never connected
        if opened == "queries":
            conn.queries_log.append({"sql": "SELECT 1", "time": "0.000"})
        elif opened == "connected":
            conn.connection = object()  # what close_old_connections would check
    elif opened == "cache":
        caches["default"]  # noqa: B018


@pytest.mark.asyncio
@pytest.mark.parametrize("opened", OPENED)
async def test_only_urlconf_to_reset_says_whether_the_others_have_work(opened: str) -> None:
    async def in_a_task() -> bool:
        _open(opened)
        return only_urlconf_to_reset()

    # A request's task, in a context of its own (not one an earlier test's sync code set values in).
    task = asyncio.create_task(in_a_task(), context=contextvars.Context())
    assert await task is (opened in ("nothing", "urlconf", "connection"))


# What each signal's receivers act on, by what was opened (the rest they look at and leave).
ACTS = {
    "request_started": {"queries", "connected"},  # reset_queries, close_old_connections
    "request_finished": {"urlconf", "connected", "cache"},  # and reset_urlconf, close_caches
}


@pytest.mark.asyncio
@pytest.mark.parametrize("signal_name", sorted(ACTS))
@pytest.mark.parametrize("opened", OPENED)
async def test_send_inline_does_what_djangos_receivers_do(
    opened: str, signal_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request signal sent inline against Django's own send, on each state: what each did to
    the connection's query log and close check, the cache's close, and the urlconf."""
    signal = getattr(signals, signal_name)

    async def in_a_task(send: Callable[[], None]) -> list[Any]:
        _open(opened)
        calls: list[str] = []
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None:
                monkeypatch.setattr(
                    conn, "close_if_unusable_or_obsolete", lambda: calls.append("db")
                )
        for cache in caches.all(initialized_only=True):
            monkeypatch.setattr(cache, "close", lambda **kw: calls.append("cache"))
        send()
        queries = [len(conn.queries_log) for conn in connections.all(initialized_only=True)]
        return [calls, queries, get_urlconf(None)]

    async def run(send: Callable[[], None]) -> list[Any]:
        return await asyncio.create_task(in_a_task(send), context=contextvars.Context())

    receivers, _ = signal._live_receivers(None)
    expected = await run(lambda: signal.send(sender=None))
    assert await run(lambda: send_inline(signal, receivers, None)) == expected
    # The comparison means something: where Django's receivers act, the state differs from a
    # request that sent nothing.
    assert (expected != await run(lambda: None)) is (opened in ACTS[signal_name])
