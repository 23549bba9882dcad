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
from django.db.backends.base.base import BaseDatabaseWrapper
from django.urls import base as urls_base
from django.utils.connection import BaseConnectionHandler

_get_ident = threading.get_ident
# What close_old_connections calls: Django's does nothing to a connection never connected.
_DJANGOS_CLOSE_CHECK = BaseDatabaseWrapper.close_if_unusable_or_obsolete
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
    """``handler.all(initialized_only=True)``: one read of its Local, however many aliases, and
    each connection taken from what was read (``handler[alias]`` reads the Local again)."""
    local: Local = handler._connections  # type: ignore[attr-defined]
    data = local_data(local)
    if data is None:  # this task opened nothing
        return []
    if data is _ASK:
        return [handler[alias] for alias in handler if hasattr(local, alias)]
    return [
        data[alias] if alias in data else handler[alias]
        for alias in handler
        if alias in data or _own(local, alias)
    ]


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


def only_urlconf_to_reset() -> bool:
    """Whether, of the stand-ins above, only ``fast_reset_urlconf`` could have work: every
    database connection this task sees is unconnected with no queries logged (``reset_queries``
    and ``close_old_connections`` would look at each and do nothing), and no cache is open.

    The usual case on the loop, though the task is seldom without a connection object: Django
    makes the default database's while it imports the models (``Options.contribute_to_class``
    asks for ``connection.ops``), in the main thread's context, which every request's task
    inherits; it is never connected there (the ORM refuses to connect on the loop)."""
    conns = local_data(connections._connections)  # type: ignore[attr-defined]
    if conns is _ASK or local_data(caches._connections) is not None:  # type: ignore[attr-defined]
        return False
    if conns:
        for alias, conn in conns.items():
            if alias in _OWN_NAMES or alias.startswith("_"):
                return False  # not a connection: ask Django's way
            if (
                conn.connection is not None
                or conn.queries_log
                or type(conn).close_if_unusable_or_obsolete is not _DJANGOS_CLOSE_CHECK
            ):
                return False
    return True


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
