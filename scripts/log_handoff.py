"""What one log line costs the thread that logs it, handed over three ways (docs/performance.md).

    uv run python scripts/log_handoff.py [--lines 200000]

The article's line (``logger.info("Getting smokeables...")``) logged N times with Uvicorn's
console format, written to /dev/null:

* ``stream``: a ``StreamHandler`` in the caller's thread, as Uvicorn's and Django's defaults do;
* ``queue``: the standard library's ``QueueHandler`` and ``QueueListener`` (the handler formats
  the record in the caller's thread, the listener writes it in its own);
* ``deferred``: the project's ``DeferredHandler`` and ``LogWriter`` (hello_async.logs.handlers).

For each: the caller's nanoseconds per line (what the event loop pays), and the process's CPU
per line once everything is written (both threads). Same process, same records; read the ratios.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import time
from collections.abc import Callable

from uvicorn.logging import DefaultFormatter

from hello_async.logs.handlers import DeferredHandler, LogWriter, lean_records

FORMAT = "%(levelprefix)s %(message)s"


def measure(name: str, lines: int, setup: Callable[[logging.Logger], Callable[[], None]]) -> None:
    logger = logging.getLogger(f"handoff.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    finish = setup(logger)
    for _ in range(1000):  # warm-up
        logger.info("Getting smokeables...")
    cpu_started = time.process_time_ns()
    started = time.perf_counter_ns()
    for _ in range(lines):
        logger.info("Getting smokeables...")
    caller = (time.perf_counter_ns() - started) / lines
    finish()  # everything written
    cpu = (time.process_time_ns() - cpu_started) / lines
    print(f"{name:9} caller {caller:7.0f} ns/line   process CPU {cpu:7.0f} ns/line")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    lines = parser.parse_args().lines
    lean_records()  # as the project runs: no caller's file and line, no process or task names
    sink = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)

    def stream(logger: logging.Logger) -> Callable[[], None]:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(DefaultFormatter(FORMAT))
        logger.handlers = [handler]
        return sink.flush

    def stdlib_queue(logger: logging.Logger) -> Callable[[], None]:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(DefaultFormatter(FORMAT))
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        logger.handlers = [logging.handlers.QueueHandler(records)]
        listener = logging.handlers.QueueListener(records, handler)
        listener.start()
        return listener.stop  # writes what is queued, then stops

    def deferred(logger: logging.Logger) -> Callable[[], None]:
        writer = LogWriter(streams=(sink, sink))
        writer.start()
        logger.handlers = [DeferredHandler(writer)]
        return writer.stop  # writes what is queued, then stops

    measure("stream", lines, stream)
    measure("queue", lines, stdlib_queue)
    measure("deferred", lines, deferred)


if __name__ == "__main__":
    main()
