"""Detects a blocked event loop while it is blocked, and names the requests in flight.

Two parts, because a blocked loop cannot report on itself:

* **The tick** - a coroutine on the serving loop that sleeps ``interval`` again and again and
  notes the time it woke. Lateness past the deadline is a stall; it measures each stall exactly
  once the loop runs again, and is the one place that *counts* stalls (one writer, no lock).
* **The watchdog** - a daemon thread that checks every ``interval`` how long ago the tick last
  ran. Past ``threshold`` it logs a warning *during* the stall, naming the method and path of the
  requests in flight (hello_async.ops.inflight), which is what points at the culprit: by the time
  the loop runs again the blocking request may have finished.

Both read only ``time.monotonic()`` and plain attributes, so this works on any loop
implementation, uvloop included (asyncio's debug mode and aiodebug hook the stdlib loop's
callback runner, which uvloop replaces, so they stay silent there). The loop thread never
takes a lock here: a contended lock on the loop would be the very thing we look for.

Started and stopped with the serving loop by hello_async.ops.lifespan; the threshold is
``HELLO_ASYNC_LOOP_STALL_MS`` (0 turns the monitor off).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from prometheus_client import Counter

from hello_async.jobs import background
from hello_async.ops import inflight

logger = logging.getLogger(__name__)

# Stalls across monitors, written by the tick only: with several processes (prometheus-client's
# multiprocess mode) /metrics adds every process's up (hello_async.ops.metrics).
LOOP_STALLS = Counter(
    "hello_async_loop_stalls",
    "Times the event loop was blocked longer than HELLO_ASYNC_LOOP_STALL_MS.",
    registry=None,
)


class LoopMonitor:
    def __init__(
        self,
        *,
        threshold: float,
        interval: float | None = None,
        table: inflight.InFlightTable | None = None,
    ) -> None:
        self.threshold = threshold
        # A quarter of the threshold: a stall is seen at most 1.25 thresholds after it began.
        self.interval = interval if interval is not None else max(threshold / 4, 0.005)
        self.stalls = 0
        self._table = table if table is not None else inflight.get_table()
        self._last_tick = time.monotonic()
        self._tick_number = 0
        self._reported_tick = -1  # the tick after which the watchdog reported a stall
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    async def astart(self) -> None:
        self._last_tick = time.monotonic()
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(
            self._tick(), name="hello-async-loop-monitor"
        )
        self._thread = threading.Thread(
            target=self._watch, name="hello-async-loop-watchdog", daemon=True
        )
        self._thread.start()

    async def astop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        thread, self._thread = self._thread, None
        if thread is not None:
            await background.ain_own_thread(thread.join, 5)  # not the default pool: it may be full

    async def _tick(self) -> None:
        while True:
            deadline = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            late = now - deadline
            self._last_tick = now
            self._tick_number += 1
            if late <= self.threshold:
                continue
            self.stalls += 1
            LOOP_STALLS.inc()
            if self._reported_tick == self._tick_number - 1:
                logger.warning("Event loop ran again after a stall of %.0f ms", late * 1000)
            else:
                # Shorter than the watchdog's period, or the watchdog lost the race: report now.
                logger.warning(
                    "Event loop stalled for %.0f ms (threshold %.0f ms); requests in flight: %s",
                    late * 1000,
                    self.threshold * 1000,
                    self.describe_in_flight(),
                )

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            tick = self._tick_number
            silent = time.monotonic() - self._last_tick
            if silent <= self.threshold + self.interval or self._reported_tick == tick:
                continue
            self._reported_tick = tick
            logger.warning(
                "Event loop stalled: blocked for %.0f ms so far (threshold %.0f ms); "
                "requests in flight: %s",
                (silent - self.interval) * 1000,
                self.threshold * 1000,
                self.describe_in_flight(),
            )

    def describe_in_flight(self, most: int = 5) -> str:
        """The oldest ``most`` requests in flight (the likeliest culprits), and how many more.

        Capped: under load hundreds are in flight, and a line naming them all would cost the
        already stalled worker more than the stall itself.
        """
        now = time.monotonic()
        requests = self._table.snapshot()
        if not requests:
            return "none"
        named = ", ".join(r.describe(now) for r in requests[:most])
        rest = len(requests) - most
        return f"{named} and {rest} more" if rest > 0 else named


_monitor: LoopMonitor | None = None


async def astart(threshold: float) -> LoopMonitor | None:
    """Start the process's monitor on the running loop (lifespan startup); None if off."""
    global _monitor
    if threshold <= 0:
        return None
    monitor = LoopMonitor(threshold=threshold)
    await monitor.astart()
    _monitor = monitor
    return monitor


async def astop() -> None:
    global _monitor
    monitor, _monitor = _monitor, None
    if monitor is not None:
        await monitor.astop()
