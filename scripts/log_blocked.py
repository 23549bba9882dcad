"""What a blocked log output costs: records logged while nobody reads (docs/reliability.md).

    uv run python scripts/log_blocked.py [--records 1000000] [--queue 10000]

The project's writer (hello_async.logs.handlers) writes to a pipe nobody reads, as a full pipe or
a stuck log shipper leaves stdout: once the pipe's buffer is full the writer's thread waits in its
write. The script then logs N records of the article's kind and prints the queue's length, the
records dropped, the process's RSS growth and the caller's time per record; then it reads the
pipe, as a shipper that came back would, until the writer has said how many it dropped (a
report per drain that found drops).
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time

from hello_async.logs.handlers import DeferredHandler, LogWriter, lean_records


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queue", type=int, default=10_000)
    args = parser.parse_args()
    read_end, write_end = os.pipe()  # nobody reads read_end yet
    output = os.fdopen(write_end, "w")
    writer = LogWriter(queue=args.queue, streams=(output, output))
    lean_records()
    logger = logging.getLogger("hello_async.article.kitchen")
    logger.handlers = [DeferredHandler(writer)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    writer.start()
    before = rss_mb()
    started = time.perf_counter()
    for n in range(args.records):
        logger.info("Returning smokeable %d", n)
    took = time.perf_counter() - started
    print(
        f"{args.records} records, queue bound {args.queue}: {writer.pending()} queued, "
        f"{writer.dropped} dropped, RSS +{rss_mb() - before:.1f} MB, "
        f"{took / args.records * 1e9:.0f} ns a record for the caller",
        flush=True,
    )
    dropped = writer.dropped  # final: nothing is logged from here on
    reported = threading.Event()

    def read() -> None:  # the shipper is back: read until the writer has reported every drop
        told: list[int] = []
        with os.fdopen(read_end, "rb") as pipe:
            rest = b""
            while chunk := pipe.read1(65536):
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    if b"dropped while the output was blocked" in line:
                        told.append(int(line.split()[1]))
                        print(f"then, the output unblocked: {line.decode()!r}", flush=True)
                if sum(told) == dropped:
                    reported.set()
                    return

    threading.Thread(target=read, daemon=True).start()
    reported.wait(60)
    os._exit(0 if reported.is_set() else 1)  # the writer's thread may still hold the pipe


if __name__ == "__main__":
    main()
