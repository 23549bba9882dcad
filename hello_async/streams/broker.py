"""The broker: JSON messages on named channels, to every subscriber of the channel, in every
process and host when ``REDIS_URL`` is set.

    LocalBroker     one process (the embedded default): a publish calls the channel's handlers
    RedisBroker     Redis pub/sub: a thread of its own runs redis-py's asyncio client on a loop
                    of its own; publishing queues the message and returns

Both take a publish from any thread and never block it. A handler is called in the broker's
thread (Redis) or the publisher's (local), so it must be thread-safe: hand the message to its
loop with ``call_soon_threadsafe``, as ``Subscriber.publish`` does. ``on_ready`` is called once
the subscription is live, and again after every reconnection: a subscriber that keeps state
from the messages re-reads it then, since what was published while the connection was down is
lost (pub/sub keeps nothing).

When Redis goes away the broker logs it once, retries with backoff (redis_broker.py), and reads as
degraded (``/readyz`` says so, and still answers 200): publishes made meanwhile are dropped and
counted (``dropped_total``), as are those past ``HELLO_ASYNC_BROKER_BUFFER`` waiting to be sent,
so memory stays bounded and no request waits for Redis. A request that publishes nothing never
touches it.
"""

from __future__ import annotations

from hello_async.streams.channels import (
    Broker,
    GapDetector,
    Handler,
    LocalBroker,
    Message,
    Ready,
    Sequencer,
    Subscription,
)
from hello_async.streams.redis_broker import RedisBroker

__all__ = [
    "Broker",
    "GapDetector",
    "Handler",
    "LocalBroker",
    "Message",
    "Ready",
    "RedisBroker",
    "Sequencer",
    "Subscription",
    "configure",
    "get_broker",
]

_broker: Broker = LocalBroker()


def configure(redis_url: str, *, prefix: str = "hello_async:", buffer: int = 10_000) -> Broker:
    """The process's broker: Redis at ``redis_url``, or in-process when it is empty. The wiring
    (apps.py) calls it once with the settings."""
    global _broker
    _broker.close()
    _broker = RedisBroker(redis_url, prefix=prefix, buffer=buffer) if redis_url else LocalBroker()
    return _broker


def get_broker() -> Broker:
    return _broker
