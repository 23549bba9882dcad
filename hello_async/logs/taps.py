"""Taps: what wants a request's log records as they are logged (the live views, the console).

Taps are registered for a request's id (one request may have several: a console following a
``/smoke_some_meats/live/`` request); the project's log handler
(hello_async.logs.handlers.DeferredHandler) hands each of them every record of that request, in
the thread that logged it, whatever the console's log level: while any tap is registered, the
project's loggers let INFO through (the console still writes only what ``HELLO_ASYNC_LOG_LEVEL``
allows). The handler reads :data:`tapped` without the lock: its values are tuples, replaced
whole, never changed in place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

Tap = Callable[[logging.LogRecord], None]
LOGGERS = ["hello_async"]  # whose level taps lower to INFO while they are on

tapped: dict[str, tuple[Tap, ...]] = {}  # request id -> its taps (read on every record)
_lock = threading.Lock()
_levels: dict[str, int] = {}  # the loggers' own levels while taps lower them


def add(request_id: str, tap: Tap) -> None:
    with _lock:
        if not tapped:
            for name in LOGGERS:
                logger = logging.getLogger(name)
                if logger.level > logging.INFO or logger.level == logging.NOTSET:
                    _levels[name] = logger.level
                    logger.setLevel(logging.INFO)
        tapped[request_id] = (*tapped.get(request_id, ()), tap)


def remove(request_id: str, tap: Tap) -> None:
    """Unregister ``tap`` for ``request_id`` (nothing if it was not registered)."""
    with _lock:
        taps = tapped.get(request_id, ())
        if tap not in taps:  # by equality: a bound method is a new object on each access
            return
        at = taps.index(tap)
        left = taps[:at] + taps[at + 1 :]
        if left:
            tapped[request_id] = left
            return
        del tapped[request_id]
        if not tapped:
            for name, level in _levels.items():
                logging.getLogger(name).setLevel(level)
            _levels.clear()
