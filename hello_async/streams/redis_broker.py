"""The Redis broker: pub/sub through redis-py's asyncio client, on a thread of its own.

One connection subscribes (to each channel someone in the process listens to, and a control
channel that is always there), one publishes, in pipelined batches; both live on the broker's own
thread and event loop, started on first use in each process (a forked child starts its own).
Publishing only appends to a bounded buffer, from any thread. A lost connection is logged once,
retried with backoff, and read as degraded until the control channel is subscribed again; each
channel's ``on_ready`` runs again then, so subscribers re-read what they keep.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import json
import logging
import os
import random
import threading
import time
import uuid
from typing import Any

from hello_async.streams.channels import (
    Channels,
    Handler,
    Message,
    Ready,
    Subscription,
)

logger = logging.getLogger(__name__)

BACKOFF = (0.1, 5.0)  # seconds before the first reconnection, and at most between two
PING_EVERY = 5.0  # seconds of silence after which the subscription is pinged; twice: dead
CONTROL = "_broker"  # a channel subscribed to always, so the subscription always exists


class RedisBroker:
    """Redis pub/sub. One connection subscribes (to each channel someone here listens to), one
    publishes; both live on the broker's own thread and loop, started on first use in each
    process (a forked worker starts its own)."""

    crosses_processes = True

    def __init__(self, url: str, *, prefix: str = "hello_async:", buffer: int = 10_000) -> None:
        import redis.asyncio  # noqa: F401  (now, not in the first publish's way)

        self.url = url
        self.prefix = prefix
        self.buffer = buffer
        self.publisher = uuid.uuid4().hex[:12]
        self._channels = Channels()
        self._confirmed: set[str] = set()  # channels Redis said we are subscribed to
        self._pending: collections.deque[tuple[str, str]] = collections.deque()
        self._start_lock = threading.Lock()
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._waking = False
        self._subscribe_queue: asyncio.Queue[tuple[str, bool]] | None = None
        self.connected = False  # the subscription is up
        self.failing = False  # the last attempt to reach Redis failed: publishes are dropped
        self.down_since: float | None = None  # since the first failure of an outage
        self.last_error = ""
        self.published_total = 0
        self.dropped_total = 0
        self.reconnects_total = 0

    # --- any thread -------------------------------------------------------------------------

    def publish(self, channel: str, message: Message) -> None:
        self._ensure_started()
        if self.failing or len(self._pending) >= self.buffer:
            self.dropped_total += 1
            return
        self._pending.append((self.prefix + channel, json.dumps(message, separators=(",", ":"))))
        if not self._waking and self._loop is not None:
            self._waking = True
            self._loop.call_soon_threadsafe(self._set_wake)

    def subscribe(
        self, channel: str, handler: Handler, *, on_ready: Ready | None = None
    ) -> Subscription:
        self._ensure_started()
        subscription = Subscription(self, channel, handler, on_ready)
        first = self._channels.add(subscription)
        if first:
            self._tell(channel, True)
        elif channel in self._confirmed:
            subscription.ready()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if self._channels.remove(subscription):
            self._tell(subscription.channel, False)

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._channels.by_channel

    def status(self) -> tuple[str, bool] | None:
        """``/readyz``'s line: ok, or degraded since when and why (never a failure). Asking
        starts the broker, so a process that has not used it yet still reports on Redis."""
        self._ensure_started()
        if self.connected:
            return "broker: ok (redis)\n", True
        if not self.failing:
            return "broker: connecting (redis)\n", True
        since = 0.0 if self.down_since is None else time.monotonic() - self.down_since
        return (
            f"broker: degraded (redis unreachable for {since:.0f} s: {self.last_error}; "
            "retrying; live feeds of other processes are not seen)\n",
            False,
        )

    def close(self, timeout: float = 1.0) -> None:
        """Send what is queued (for up to ``timeout`` seconds), then stop the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or self._pid != os.getpid():
            return
        deadline = time.monotonic() + timeout
        while self._pending and not self.failing and time.monotonic() < deadline:
            time.sleep(0.01)
        if not loop.is_closed() and self._stop is not None:
            loop.call_soon_threadsafe(self._stop.set)
        thread.join(max(deadline - time.monotonic(), 0.1))
        self._thread = None

    def _tell(self, channel: str, subscribe: bool) -> None:
        loop, queue = self._loop, self._subscribe_queue
        if loop is not None and queue is not None:
            loop.call_soon_threadsafe(queue.put_nowait, (channel, subscribe))

    def _ensure_started(self) -> None:
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._start_lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            if self._pid:  # a forked child: a name of its own, its numbers its own
                self.publisher = uuid.uuid4().hex[:12]
            self._pid = os.getpid()
            self.connected = False
            self.failing = False
            self._pending.clear()
            self._confirmed.clear()
            started = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(started,), name="hello-async-broker", daemon=True
            )
            self._thread.start()
            started.wait(5)
            atexit.register(self.close)

    def _set_wake(self) -> None:
        self._waking = False
        if self._wake is not None:
            self._wake.set()

    # --- the broker's thread ----------------------------------------------------------------

    def _run(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._subscribe_queue = asyncio.Queue()
        started.set()
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        assert self._stop is not None
        tasks = [asyncio.create_task(self._publish_loop()), asyncio.create_task(self._listen())]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _publish_loop(self) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # One retry at once (a pooled connection Redis closed meanwhile), then the batch is
        # dropped: messages waiting behind a Redis that is away would only be late.
        client = redis.Redis.from_url(
            self.url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1)
        )
        try:
            while True:
                assert self._wake is not None
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    batch = [self._pending.popleft() for _ in range(min(len(self._pending), 500))]
                    try:
                        async with client.pipeline(transaction=False) as pipe:
                            for channel, data in batch:
                                pipe.publish(channel, data)
                            await pipe.execute()
                        self.published_total += len(batch)
                    except Exception as exc:  # the listener notices and reports the outage
                        self.dropped_total += len(batch)
                        logger.debug("broker: a publish failed: %r", exc)
        finally:
            await client.aclose()

    async def _listen(self) -> None:
        delay = BACKOFF[0]
        while True:
            try:
                await self._subscribed_session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:  # it was up: the next try comes soon
                    delay = BACKOFF[0]
                self._went_down(exc)
            # Jittered: the processes of a fleet do not all come back at the same instant.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF[1])

    def _went_down(self, exc: BaseException) -> None:
        self.last_error = type(exc).__name__
        if not self.failing:  # once per outage, not once per retry
            logger.warning(
                "broker: redis %s unreachable (%s: %s); retrying with backoff",
                self._safe_url(),
                type(exc).__name__,
                exc,
            )
        if self.down_since is None:
            self.down_since = time.monotonic()
        self.connected = False
        self.failing = True
        self._confirmed.clear()

    def _safe_url(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 6379}"

    async def _subscribed_session(self) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        pubsub = client.pubsub()
        commands: asyncio.Task[None] | None = None
        try:
            # Whatever was asked for before this connection came up is subscribed here at once;
            # the queue then carries the changes (once the connection exists: two commands
            # racing to open it would open two).
            assert self._subscribe_queue is not None
            while not self._subscribe_queue.empty():
                self._subscribe_queue.get_nowait()
            wanted = [self.prefix + c for c in self._channels.by_channel]
            await pubsub.subscribe(self.prefix + CONTROL, *wanted)
            commands = asyncio.create_task(self._subscribe_commands(pubsub))
            silent = 0
            while True:
                message = await pubsub.get_message(timeout=PING_EVERY)
                if message is None:
                    silent += 1
                    if silent >= 2:
                        raise ConnectionError(f"no answer to a ping within {PING_EVERY:g} s")
                    await pubsub.ping()
                    continue
                silent = 0
                self._on_message(message)
        finally:
            if commands is not None:
                commands.cancel()
                await asyncio.gather(commands, return_exceptions=True)
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()
            except Exception:  # the connection is gone already
                pass

    async def _subscribe_commands(self, pubsub: Any) -> None:
        assert self._subscribe_queue is not None
        while True:
            channel, subscribe = await self._subscribe_queue.get()
            if subscribe:
                await pubsub.subscribe(self.prefix + channel)
            else:
                self._confirmed.discard(channel)
                await pubsub.unsubscribe(self.prefix + channel)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        raw_channel = message.get("channel")
        name = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        channel = name[len(self.prefix) :] if name.startswith(self.prefix) else name
        if kind == "subscribe":
            if channel == CONTROL:
                if self.failing:
                    logger.warning("broker: redis %s reachable again", self._safe_url())
                    self.reconnects_total += 1
                self.connected, self.failing, self.down_since = True, False, None
                return
            self._confirmed.add(channel)
            for subscription in self._channels.by_channel.get(channel, ()):
                try:
                    subscription.ready()
                except Exception:
                    logger.exception("A subscriber of channel %s failed", channel)
        elif kind == "message":
            try:
                data = json.loads(message["data"])
            except ValueError:
                logger.warning("broker: a message on %s is not JSON; ignored", channel)
                return
            self._channels.dispatch(channel, data)
