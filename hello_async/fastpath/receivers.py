"""Django's request_started / request_finished receivers, for the handler's inline sends only.

Each of Django's receivers (``reset_queries``, ``close_old_connections``, ``close_caches``,
``reset_urlconf``) starts by asking an asgiref ``Local`` which connections this thread or task
has opened: ``hasattr(local, alias)``. On the event loop the answer is almost always "none", and
a miss raises and catches two exceptions through four frames, five times per request.

The versions here read the ``Local``'s storage directly, the way asgiref's ``__getattr__`` reads
it on a thread with a running event loop, then do exactly what Django's receiver does with the
answer (the same connections, in the same order, the same calls). They stand in for Django's
receivers only when hello_async.fastpath.signals sends a signal inline on the loop; the code
they mirror is pinned in tests/pins.py, and tests/fastpath/test_receivers.py compares
each answer with ``hasattr`` and each receiver's effect with Django's.
"""

from __future__ import annotations

import threading
from asyncio import _get_running_loop
from collections.abc import Callable
from typing import Any

from asgiref.local import Local, _CVar, _DefaultLocal, _ThreadCriticalLocal
from django.core.cache import caches, close_caches
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, connections, reset_queries
from django.urls import base as urls_base
from django.utils.connection import BaseConnectionHandler

_get_ident = threading.get_ident
# Names the Local, its thread-local or its _CVar have themselves (their __getattr__ is not asked
# for them): plain hasattr().
_OWN_NAMES = frozenset(
    dir(_CVar()) + dir(Local()) + dir(Local(thread_critical=True)) + dir(threading.local())
)


def local_has(local: Local, name: str) -> bool:
    """``hasattr(local, name)``, reading the storage as asgiref 3.13's ``__getattr__`` does."""
    if name in _OWN_NAMES or name.startswith("_"):
        return hasattr(local, name)
    data = local_data(local)
    if data is _ASK:
        return hasattr(local, name)
    return data is not None and name in data


_ASK: dict[str, Any] = {}  # local_data's "read it with hasattr()" (not a Local it can read)


def local_data(local: Local) -> dict[str, Any] | None:
    """What ``local`` holds for the current thread or task (None: nothing), read once; ``_ASK``
    when it cannot be read directly (a sync thread's thread-critical Local, another class)."""
    cls = type(local)
    if cls is _ThreadCriticalLocal:
        if _get_running_loop() is None:
            return _ASK  # a sync thread: the thread-local itself
        # _get_storage(): the thread's _CVar, which it would create here if missing (empty).
        cvar = getattr(object.__getattribute__(local, "_storage"), "cvar", None)
        if cvar is None:
            return None
    elif cls is _DefaultLocal:
        cvar = object.__getattribute__(local, "_storage")
    else:
        return _ASK
    # _CVar.__getattr__ / _storage(): data of this thread only.
    storage = cvar._data.get(None)
    if storage is None or storage.thread_id != _get_ident():
        return None
    data: dict[str, Any] = storage.data
    return data


def initialized(handler: BaseConnectionHandler[Any]) -> list[Any]:
    """``handler.all(initialized_only=True)``: one read of its Local, however many aliases."""
    local: Local = handler._connections  # type: ignore[attr-defined]
    data = local_data(local)
    if data is None:  # the usual case on the loop: this task opened nothing
        return []
    if data is _ASK:
        return [handler[alias] for alias in handler if hasattr(local, alias)]
    return [handler[alias] for alias in handler if alias in data or _own(local, alias)]


def _own(local: Local, name: str) -> bool:
    """A name the Local answers itself (never an alias in practice), as hasattr() sees it."""
    return (name in _OWN_NAMES or name.startswith("_")) and hasattr(local, name)


def fast_reset_queries(**kwargs: Any) -> None:
    for conn in initialized(connections):
        conn.queries_log.clear()


def fast_close_old_connections(**kwargs: Any) -> None:
    for conn in initialized(connections):
        conn.close_if_unusable_or_obsolete()


def fast_close_caches(**kwargs: Any) -> None:
    for cache in initialized(caches):  # caches.close_all()
        cache.close()


def fast_reset_urlconf(sender: Any, **kwargs: Any) -> None:
    # set_urlconf(None)
    urlconfs: Local = urls_base._urlconfs  # type: ignore[attr-defined]
    if local_has(urlconfs, "value"):
        del urlconfs.value


def nothing_opened() -> bool:
    """Whether this thread or task holds no database connection, no cache and no urlconf: then
    each stand-in below finds nothing to reset or close (three reads in place of their calls)."""
    return (
        local_data(connections._connections) is None  # type: ignore[attr-defined]
        and local_data(caches._connections) is None  # type: ignore[attr-defined]
        and local_data(urls_base._urlconfs) is None  # type: ignore[attr-defined]
    )


# Django's own request_started / request_finished receivers: the only ones the handler sends
# inline on the loop (hello_async.fastpath.signals); their stand-ins below.
DJANGOS: frozenset[Callable[..., Any]] = frozenset(
    {reset_queries, close_old_connections, close_caches, reset_urlconf}
)
FAST: dict[Callable[..., Any], Callable[..., Any]] = {
    reset_queries: fast_reset_queries,
    close_old_connections: fast_close_old_connections,
    close_caches: fast_close_caches,
    reset_urlconf: fast_reset_urlconf,
}
