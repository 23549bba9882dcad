"""Channels and their subscribers, the part every broker shares; and the in-process broker.

Subscription    one handler on one channel, with ``on_ready`` (live, or live again)
Broker          what the features use: publish, subscribe (hello_async.streams.broker
                picks one: :class:`LocalBroker`, or Redis in redis_broker.py)
LocalBroker     one process: a publish calls the channel's handlers in the publisher's thread
Sequencer, GapDetector   a publisher's numbers, and a subscriber's check for a gap in them
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message], None]
Ready = Callable[[], None]


class Subscription:
    """One handler on one channel; ``close()`` to stop receiving."""

    def __init__(
        self, broker: Broker, channel: str, handler: Handler, on_ready: Ready | None
    ) -> None:
        self.broker = broker
        self.channel = channel
        self.handler = handler
        self.on_ready = on_ready
        self.closed = False

    def ready(self) -> None:
        if self.on_ready is not None and not self.closed:
            self.on_ready()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.broker.unsubscribe(self)


class Broker(Protocol):
    crosses_processes: bool  # messages reach other processes (else: this process only)
    publisher: str  # this process's name in the messages it sends (for sequence numbers)
    published_total: int
    dropped_total: int

    def publish(self, channel: str, message: Message) -> None: ...

    def subscribe(
        self, channel: str, handler: Handler, *, on_ready: Ready | None = None
    ) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def has_subscribers(self, channel: str) -> bool: ...

    def status(self) -> tuple[str, bool] | None: ...

    def close(self, timeout: float = 1.0) -> None: ...


class Channels:
    """Handlers by channel, changed under a lock, read as tuples without it."""

    def __init__(self) -> None:
        self.by_channel: dict[str, tuple[Subscription, ...]] = {}
        self.lock = threading.Lock()

    def add(self, subscription: Subscription) -> bool:
        """True if the channel had no subscriber before."""
        with self.lock:
            had = self.by_channel.get(subscription.channel, ())
            self.by_channel[subscription.channel] = (*had, subscription)
            return not had

    def remove(self, subscription: Subscription) -> bool:
        """True if the channel has no subscriber left."""
        with self.lock:
            had = self.by_channel.get(subscription.channel, ())
            left = tuple(s for s in had if s is not subscription)
            if left:
                self.by_channel[subscription.channel] = left
                return False
            self.by_channel.pop(subscription.channel, None)
            return bool(had)

    def dispatch(self, channel: str, message: Message) -> None:
        for subscription in self.by_channel.get(channel, ()):
            try:
                subscription.handler(message)
            except Exception:
                logger.exception("A handler of channel %s failed", channel)


class LocalBroker:
    """This process only: a publish calls the channel's handlers in the publishing thread."""

    crosses_processes = False

    def __init__(self) -> None:
        self.publisher = uuid.uuid4().hex[:12]
        self._channels = Channels()
        self.published_total = 0
        self.dropped_total = 0

    def publish(self, channel: str, message: Message) -> None:
        self.published_total += 1
        self._channels.dispatch(channel, message)

    def subscribe(
        self, channel: str, handler: Handler, *, on_ready: Ready | None = None
    ) -> Subscription:
        subscription = Subscription(self, channel, handler, on_ready)
        self._channels.add(subscription)
        subscription.ready()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._channels.remove(subscription)

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._channels.by_channel

    def status(self) -> tuple[str, bool] | None:
        return None  # nothing to be ready for

    def close(self, timeout: float = 1.0) -> None:
        pass


class Sequencer:
    """Numbers a publisher's messages on a channel, so a subscriber sees a gap (a message lost
    while Redis was away, or dropped past the buffer) and re-reads what it keeps."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._numbers)


class GapDetector:
    """The last number seen from each publisher (the newest ``limit`` publishers)."""

    def __init__(self, limit: int = 1000) -> None:
        self._last: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._limit = limit

    def missed(self, publisher: str, seq: int) -> bool:
        """True when messages from ``publisher`` came before ``seq`` and were not seen."""
        last = self._last.pop(publisher, None)
        self._last[publisher] = seq
        while len(self._last) > self._limit:
            self._last.popitem(last=False)
        return last is not None and seq != last + 1

    def clear(self) -> None:
        self._last.clear()
