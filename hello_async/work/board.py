"""The orders board, live: the newest orders' states sent to every watcher as they change.

A new watcher gets the whole board at once (``board``), then one ``order`` event per order that
changed. How a process learns of a change depends on the broker (hello_async.streams.broker):

* **Across processes** (``REDIS_URL``): whoever makes a transition publishes it on the broker's
  ``board`` channel: the web process that queued the order (Django's ``task_enqueued``), the
  task worker that claimed, finished or re-queued it (``task_started``, ``task_finished``,
  hello_async.work.signals' ``task_requeued``). A process with watchers subscribes once, reads
  the board once (one query) when its subscription is live, and applies each message as it
  comes: every host sees a change as soon as Redis carries it, with no polling. Messages carry
  their publisher's sequence number; a gap (one lost while Redis was away, or dropped past a
  buffer) or a new subscription after an outage re-reads the board once. An order's state only
  moves forward (:func:`progress`), so a late message (the READY of a web process arriving after
  the worker's RUNNING) changes nothing.
* **In-process** (the embedded default): the task worker is another process the in-process
  broker cannot reach, so the board polls as before: one query per ``HELLO_ASYNC_BOARD_POLL``
  seconds per process, however many watch, and only while someone does.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from hello_async.streams.broker import (
    Broker,
    GapDetector,
    Message,
    Sequencer,
    Subscription,
    get_broker,
)
from hello_async.streams.subscribers import Event, Subscriber
from hello_async.work import orders
from hello_async.work.tasks import smoke_order

logger = logging.getLogger(__name__)

SHOWN = 20  # orders on the board
CHANNEL = "board"
FINISHED = 1 << 30

Order = dict[str, Any]


def progress(order: Order) -> int:
    """How far an order has come: READY before its first run, RUNNING (attempt 1), READY again
    for a retry, RUNNING (attempt 2)..., finished last. A message never moves an order back."""
    status, attempts = order.get("status"), int(order.get("attempts") or 0)
    if status in ("SUCCESSFUL", "FAILED"):
        return FINISHED
    if status == "RUNNING":
        return 2 * attempts - 1
    return 2 * attempts  # READY: waiting for attempt ``attempts + 1``


def newest(board: Iterable[Order]) -> dict[str, Order]:
    ordered = sorted(board, key=lambda o: str(o.get("enqueued_at") or ""), reverse=True)
    return {o["id"]: o for o in ordered[:SHOWN]}


class BoardFeed:
    def __init__(self, *, interval: float | None = None, broker: Broker | None = None) -> None:
        self._interval = interval
        self._broker = broker
        self._watchers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None  # the poll, or a load of the board
        self._board: dict[str, Order] | None = None  # the last poll or load, by order id
        self._early: dict[str, Order] = {}  # messages that came before the first load
        self._reload = False  # a reason to read the board again came while it was read
        self._failing = False  # the last read failed (logged once until one succeeds)
        self._subscription: Subscription | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gaps = GapDetector()
        self.loads = 0  # whole-board reads in push mode (the first, and each resync)

    @property
    def interval(self) -> float:
        return float(
            self._interval if self._interval is not None else settings.HELLO_ASYNC_BOARD_POLL
        )

    @property
    def broker(self) -> Broker:
        return self._broker if self._broker is not None else get_broker()

    def watch(self, subscriber: Subscriber) -> None:
        self._watchers.add(subscriber)
        self._loop = asyncio.get_running_loop()
        if self._board is not None:
            subscriber.publish(Event("board", list(self._board.values())))
        broker = self.broker
        if broker.crosses_processes:
            if self._subscription is None:
                self._subscription = broker.subscribe(
                    CHANNEL, self._message_from_broker, on_ready=self._ready_from_broker
                )
        elif self._task is None or self._task.done():
            self._task = self._start(self._poll(), "hello-async-board")

    def unwatch(self, subscriber: Subscriber) -> None:
        self._watchers.discard(subscriber)
        if self._watchers:
            return
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._board = None
        self._early.clear()
        self._gaps.clear()

    def _start(self, work: Any, name: str) -> asyncio.Task[None]:
        # A context of its own: the work outlives the request that started it, and must not use
        # that request's sync thread (asgiref's, gone with the request).
        assert self._loop is not None
        return self._loop.create_task(work, name=name, context=contextvars.Context())

    async def _read(self) -> dict[str, Order] | None:
        """The newest orders, or None when the read failed (logged once per outage)."""
        try:
            fresh = {o["id"]: o for o in await orders.smoke_order_alist_json(limit=SHOWN)}
        except Exception:
            # Once per outage, not once per read: a database down for a minute would
            # otherwise write 120 tracebacks.
            if not self._failing:
                logger.exception("The orders board could not read the orders (retrying)")
            self._failing = True
            return None
        else:
            if self._failing:
                logger.info("The orders board reads the orders again")
            self._failing = False
            return fresh
        finally:
            await sync_to_async(close_old_connections, thread_sensitive=True)()

    # --- in-process: the poll --------------------------------------------------------------

    async def _poll(self) -> None:
        while self._watchers:
            fresh = await self._read()
            if fresh is not None:
                self._publish(fresh)
            await asyncio.sleep(self.interval)

    def _publish(self, fresh: dict[str, Order]) -> None:
        previous, self._board = self._board, fresh
        if previous is None:
            events = [Event("board", list(fresh.values()))]
        else:
            events = [Event("order", o) for i, o in fresh.items() if previous.get(i) != o]
        for event in events:
            self._send(event)

    def _send(self, event: Event) -> None:
        for watcher in list(self._watchers):
            watcher.publish(event)

    # --- across processes: the broker's messages ---------------------------------------------

    def _message_from_broker(self, message: Message) -> None:  # the broker's thread
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._apply, message)

    def _ready_from_broker(self) -> None:  # the broker's thread: subscribed (again)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._resync)

    def _apply(self, message: Message) -> None:
        if self._subscription is None:  # nobody watches any more
            return
        order, publisher, seq = message.get("order"), message.get("publisher"), message.get("seq")
        if (
            isinstance(publisher, str)
            and isinstance(seq, int)
            and self._gaps.missed(publisher, seq)
        ):
            self._resync()
        if not isinstance(order, dict) or not isinstance(order.get("id"), str):
            return
        board = self._early if self._board is None else self._board
        current = board.get(order["id"])
        if current is not None and progress(order) < progress(current):
            return  # late: the order has moved on
        board[order["id"]] = order
        if self._board is not None:
            self._board = newest(self._board.values())
            if order["id"] in self._board:
                self._send(Event("order", order))

    def _resync(self) -> None:
        """Read the whole board once (again), unless a read is on its way already."""
        if self._subscription is None:
            return
        if self._task is not None and not self._task.done():
            self._reload = True
            return
        self._task = self._start(self._load(), "hello-async-board-load")

    async def _load(self) -> None:
        while self._watchers:
            self._reload = False
            fresh = await self._read()
            if fresh is None:
                await asyncio.sleep(self.interval)
                continue
            self.loads += 1
            self._merge(fresh)
            if not self._reload:
                return

    def _merge(self, fresh: dict[str, Order]) -> None:
        board = {**(self._board or {}), **self._early}
        self._early.clear()
        for id_, order in fresh.items():
            current = board.get(id_)
            if current is None or progress(order) >= progress(current):
                board[id_] = order
        self._board = newest(board.values())
        self._send(Event("board", list(self._board.values())))


_feed = BoardFeed()


def get_feed() -> BoardFeed:
    return _feed


# --- publishing: whoever makes a transition ---------------------------------------------------

_sequence = Sequencer()


def publish_order(order: Order, *, broker: Broker | None = None) -> None:
    """Tell every board of every process that ``order`` moved (nothing in-process: there the
    board polls, since the task worker is another process)."""
    broker = broker if broker is not None else get_broker()
    if broker.crosses_processes:
        message = {"publisher": broker.publisher, "seq": _sequence.next(), "order": order}
        broker.publish(CHANNEL, message)


def on_task_changed(sender: object, task_result: Any, **kwargs: object) -> None:
    """A receiver of Django's task signals: a smoke order's new state, published."""
    try:
        if task_result.task.module_path == smoke_order.module_path:
            publish_order(orders.smoke_order_json(task_result))
    except Exception:  # a board left behind re-reads later; the task itself goes on
        logger.exception("The orders board could not publish task %s", task_result.id)


def on_task_requeued(sender: object, task_id: str, **kwargs: object) -> None:
    """A retry put the task back in the queue: its row read again (the worker's own write) and
    published."""
    if not get_broker().crosses_processes:
        return
    from django_tasks_db.models import DBTaskResult

    try:
        row = DBTaskResult.objects.get(id=task_id)
    except Exception:
        logger.exception("The orders board could not read task %s", task_id)
        return
    on_task_changed(sender, row.task_result)


def connect() -> None:
    """Publish every transition of an order from this process (the wiring calls it once)."""
    from django.tasks.signals import task_enqueued, task_finished, task_started

    from hello_async.work.signals import task_requeued

    for signal in (task_enqueued, task_started, task_finished):
        signal.connect(on_task_changed, dispatch_uid=f"hello_async.board.{id(signal)}")
    task_requeued.connect(on_task_requeued, dispatch_uid="hello_async.board.requeued")
