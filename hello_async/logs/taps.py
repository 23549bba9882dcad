"""Taps: what wants a request's log records as they are logged (the live views, the console).

A tap is registered for a request's id; the project's log handler
(hello_async.logs.handlers.DeferredHandler) hands it each record of that request, in the thread
that logged it, whatever the console's log level: while any tap is registered, the project's
loggers let INFO through (the console still writes only what ``HELLO_ASYNC_LOG_LEVEL`` allows).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

Tap = Callable[[logging.LogRecord], None]
LOGGERS = ["hello_async"]  # whose level taps lower to INFO while they are on

tapped: dict[str, Tap] = {}  # request id -> its tap (read by the handler on every record)
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
        tapped[request_id] = tap


def remove(request_id: str) -> None:
    with _lock:
        if tapped.pop(request_id, None) is not None and not tapped:
            for name, level in _levels.items():
                logging.getLogger(name).setLevel(level)
            _levels.clear()


def active() -> int:
    return len(tapped)
