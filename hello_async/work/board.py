"""The orders board, live: the newest orders' states sent to every watcher as they change.

Task states change in the worker processes, so the web process learns of them from the
database: one poll of the newest orders per ``HELLO_ASYNC_BOARD_POLL`` seconds per process,
however many watch, and only while someone does. A new watcher gets the whole board at once
(``board``), then one ``order`` event per order that changed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from hello_async.streams.subscribers import Event, Subscriber
from hello_async.work import orders

logger = logging.getLogger(__name__)

SHOWN = 20  # orders on the board


class BoardFeed:
    def __init__(self, *, interval: float | None = None) -> None:
        self._interval = interval
        self._watchers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._board: dict[str, dict[str, Any]] | None = None  # the last poll, by order id
        self._failing = False  # the last poll failed (logged once until one succeeds)

    @property
    def interval(self) -> float:
        return float(
            self._interval if self._interval is not None else settings.HELLO_ASYNC_BOARD_POLL
        )

    def watch(self, subscriber: Subscriber) -> None:
        self._watchers.add(subscriber)
        if self._board is not None:
            subscriber.publish(Event("board", list(self._board.values())))
        if self._task is None or self._task.done():
            # A context of its own: the poll outlives the request that started it, and must not
            # use that request's sync thread (asgiref's, gone with the request).
            self._task = asyncio.get_running_loop().create_task(
                self._poll(), name="hello-async-board", context=contextvars.Context()
            )

    def unwatch(self, subscriber: Subscriber) -> None:
        self._watchers.discard(subscriber)
        if not self._watchers and self._task is not None:
            self._task.cancel()
            self._task = None
            self._board = None

    async def _poll(self) -> None:
        while self._watchers:
            try:
                fresh = {o["id"]: o for o in await orders.smoke_order_alist_json(limit=SHOWN)}
            except Exception:
                # Once per outage, not once per poll: a database down for a minute would
                # otherwise write 120 tracebacks.
                if not self._failing:
                    logger.exception("The orders board could not read the orders (retrying)")
                self._failing = True
                fresh = None
            else:
                if self._failing:
                    logger.info("The orders board reads the orders again")
                self._failing = False
            finally:
                await sync_to_async(close_old_connections, thread_sensitive=True)()
            if fresh is not None:
                self._publish(fresh)
            await asyncio.sleep(self.interval)

    def _publish(self, fresh: dict[str, dict[str, Any]]) -> None:
        previous, self._board = self._board, fresh
        if previous is None:
            events = [Event("board", list(fresh.values()))]
        else:
            events = [Event("order", o) for i, o in fresh.items() if previous.get(i) != o]
        for event in events:
            for watcher in list(self._watchers):
                watcher.publish(event)


_feed = BoardFeed()


def get_feed() -> BoardFeed:
    return _feed
