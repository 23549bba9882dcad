"""Django's request signals and ``response.close()``, on the event loop when no thread is needed.

Stock Django sends ``request_started`` through ``sync_to_async`` (its receivers are sync), and
ends each request with ``sync_to_async(response.close)()``, which sends ``request_finished``: two
thread hops per request, and the first one makes the request's thread.

Only Django's own receivers (hello_async.fastpath.receivers.DJANGOS, known by identity) run
inline here: they reset or close what the current thread or task opened, and for a request whose
own code never went to a thread, the thread they would use is brand new and holds no database
connection. Any other receiver (a project's, a library's, an async one) may touch the ORM, block,
or set a thread-local a sync view reads: with one connected, the signal is sent as Django sends
it, every receiver in the request's thread. A request that did make its thread (a sync view, sync
middleware, the async ORM) also closes there, as Django does, so the connections that thread
opened are closed or returned to the pool. Inline, Django's receivers run in their cheaper
versions (hello_async.fastpath.receivers) unless that fork is off.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from django.core import signals
from django.core.handlers.base import reset_urlconf
from django.dispatch import Signal
from django.http import HttpResponseBase

from hello_async import fastpath
from hello_async.fastpath.receivers import (
    DJANGOS,
    FAST,
    fast_reset_urlconf,
    only_urlconf_to_reset,
)


def context_has_thread() -> bool:
    """Whether the current ThreadSensitiveContext has made its thread (ran sync code)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


def inline_receivers(signal: Signal, sender: Any) -> list[Callable[..., Any]] | None:
    """The receivers ``signal.send(sender)`` would call, if all are Django's own; else None.

    Remembered per signal and sender while ``signal.receivers`` holds the same entries: a
    connect or a disconnect changes them, and a receiver that died can only be another's (Django's
    are module functions), so the answer stays right. ``_live_receivers`` takes the signal's
    lock and walks its weak references: twice a request, without this."""
    entries = tuple(signal.receivers)
    key = (signal, sender)
    known = _known.get(key)
    if known is not None and known[0] == entries:  # the same objects: compared by identity
        return known[1]
    sync_receivers, async_receivers = signal._live_receivers(sender)  # pinned: tests/pins.py
    receivers = None
    if not async_receivers and DJANGOS.issuperset(sync_receivers):
        receivers = sync_receivers
    if known is not None or len(_known) < _KNOWN_MAX:  # a stale answer is replaced
        _known[key] = (entries, receivers)
    return receivers


# (signal, sender) -> (signal.receivers when asked, the answer). Two signals, one handler class
# as the sender: a bound keeps a caller with ever new senders from growing it.
_known: dict[tuple[Signal, Any], tuple[tuple[Any, ...], list[Callable[..., Any]] | None]] = {}
_KNOWN_MAX = 64


@functools.cache
def _stand_ins() -> dict[Callable[..., Any], Callable[..., Any]]:
    return FAST if fastpath.enabled("receivers") else {}


def send_inline(
    signal: Signal, receivers: list[Callable[..., Any]], sender: Any, **named: Any
) -> None:
    """Signal.send's loop over ``receivers`` (from :func:`inline_receivers`). When they are all
    Django's and stood in for, and none but the urlconf reset has work
    (hello_async.fastpath.receivers.only_urlconf_to_reset: every other would look and return),
    that reset alone."""
    stand_ins = _stand_ins()
    if stand_ins and DJANGOS.issuperset(receivers) and only_urlconf_to_reset():
        if reset_urlconf in receivers:
            fast_reset_urlconf(sender)
        return
    for receiver in receivers:
        stand_ins.get(receiver, receiver)(signal=signal, sender=sender, **named)


async def asend_request_started(sender: type, scope: dict[str, Any]) -> None:
    receivers = inline_receivers(signals.request_started, sender)
    if receivers is None:
        await signals.request_started.asend(sender=sender, scope=scope)  # Django's
    else:
        send_inline(signals.request_started, receivers, sender, scope=scope)


async def asend_request_finished(sender: type) -> None:
    """For a request that ended without a response (the client went away)."""
    receivers = None if context_has_thread() else inline_receivers(signals.request_finished, sender)
    if receivers is None:
        await signals.request_finished.asend(sender=sender)  # Django's
    else:
        send_inline(signals.request_finished, receivers, sender)


async def aclose_response(response: HttpResponseBase) -> None:
    """``await sync_to_async(response.close)()`` as Django ends a request, inline when the
    request made no thread, the response's close is Django's and so are the receivers."""
    if not context_has_thread() and type(response).close is HttpResponseBase.close:
        receivers = inline_receivers(signals.request_finished, response._handler_class)  # type: ignore[attr-defined]
        if receivers is not None:
            close_inline(response, receivers)
            return
    await sync_to_async(response.close)()


def close_inline(response: Any, receivers: list[Callable[..., Any]]) -> None:
    """HttpResponseBase.close(), sending request_finished to ``receivers`` only."""
    for closer in response._resource_closers:
        try:  # noqa: SIM105 (as Django has it)
            closer()
        except Exception:
            pass
    response._resource_closers.clear()
    response.closed = True
    send_inline(signals.request_finished, receivers, response._handler_class)
