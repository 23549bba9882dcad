"""Django's request signals and ``response.close()``, on the event loop when no thread is needed.

Stock Django sends ``request_started`` through ``sync_to_async`` (its receivers are sync), and
ends each request with ``sync_to_async(response.close)()``, which sends ``request_finished``: two
thread hops per request, and the first one makes the request's thread. For a request whose own
code never went to a thread, the thread they would use is brand new and holds no database
connection, so here they run inline; a request that did make its thread (a sync view, sync
middleware, the async ORM) still closes there, as Django does, so the connections that thread
opened are closed or returned to the pool. Django's receivers run in their cheaper versions
(hello_async.fastpath.receivers) unless that fork is off.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from django.core import signals
from django.http import HttpResponseBase

from hello_async import fastpath


def context_has_thread() -> bool:
    """Whether the current ThreadSensitiveContext has made its thread (ran sync code)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


@functools.cache
def _stand_ins() -> dict[Callable[..., Any], Callable[..., Any]]:
    from hello_async.fastpath.receivers import FAST

    return FAST if fastpath.enabled("receivers") else {}


def send_sync_receivers(
    signal: Any, receivers: list[Callable[..., Any]], sender: Any, **named: Any
) -> None:
    """Signal.send's loop over ``receivers`` (the signal's sync receivers, no async ones)."""
    stand_ins = _stand_ins()
    for receiver in receivers:
        stand_ins.get(receiver, receiver)(signal=signal, sender=sender, **named)


async def asend_request_started(sender: type, scope: dict[str, Any]) -> None:
    signal = signals.request_started
    sync_receivers, async_receivers = signal._live_receivers(sender)
    if async_receivers:
        await signal.asend(sender=sender, scope=scope)
    else:
        send_sync_receivers(signal, sync_receivers, sender, scope=scope)


async def asend_request_finished(sender: type) -> None:
    """For a request that ended without a response (the client went away)."""
    sync_receivers, async_receivers = signals.request_finished._live_receivers(sender)
    if context_has_thread() or async_receivers:
        await signals.request_finished.asend(sender=sender)
    else:
        send_sync_receivers(signals.request_finished, sync_receivers, sender)


async def aclose_response(response: HttpResponseBase) -> None:
    if context_has_thread():
        await sync_to_async(response.close)()
    else:
        close_response(response)


def close_response(response: Any) -> None:
    """``response.close()``, on the loop, for a request whose context made no thread."""
    if type(response).close is not HttpResponseBase.close:
        response.close()
        return
    sync_receivers, async_receivers = signals.request_finished._live_receivers(
        response._handler_class
    )
    if async_receivers:
        response.close()
        return
    # HttpResponseBase.close()
    for closer in response._resource_closers:
        try:  # noqa: SIM105 (as Django has it)
            closer()
        except Exception:
            pass
    response._resource_closers.clear()
    response.closed = True
    send_sync_receivers(signals.request_finished, sync_receivers, response._handler_class)
