"""Records queued as they are, formatted and written by a thread of their own, in batches.

The standard library's ``QueueHandler`` formats each record before queueing it (on the event
loop) and its ``QueueListener`` wakes for every record; here the handler hands the record over
untouched (:class:`DeferredHandler`), and :class:`LogWriter` drains the queue every
:data:`INTERVAL` seconds, formats the records in the order they came and writes each run of
lines bound for one stream with one write. Uvicorn's access lines go to stdout, the rest to
stderr, as Uvicorn's own handlers do. The handler's ``flush()`` (called by ``logging.shutdown()``
at exit) and ``finish()`` (the lifespan's shutdown) write what is queued before they return.

The queue holds at most ``HELLO_ASYNC_LOG_QUEUE`` records. When the output blocks (a full pipe,
a stuck log shipper) the writer waits in its write while the loggers go on: past the bound a
record is dropped and counted, never waited for, so neither the event loop nor memory pays for
a console nobody reads. Once the output takes lines again and the queue is drained, the writer
says how many were dropped; ``/metrics`` shows the total (:data:`RECORDS_DROPPED`). Nor does the
shutdown wait for a blocked output: ``stop()`` gives a write in progress ``STUCK`` seconds, then
leaves the rest, and every later line, to the thread, should its write ever return.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections import deque
from typing import TextIO

from prometheus_client import Counter

from hello_async.logs import context, taps
from hello_async.logs.formatters import ConsoleAccessFormatter, ConsoleFormatter, JsonFormatter

INTERVAL = 0.02  # seconds between two drains: how late a line may reach the console
QUEUE = 10_000  # records waiting at most (HELLO_ASYNC_LOG_QUEUE)
STUCK = 0.5  # seconds stop() waits for a write in progress; past it the output is blocked
ACCESS = "uvicorn.access"
DROPPED = "%d log records dropped while the output was blocked"

# The count in prometheus-client's object as well: with several processes (its multiprocess
# mode) /metrics adds every process's up (hello_async.ops.metrics).
RECORDS_DROPPED = Counter(
    "hello_async_log_records_dropped",
    "Log records dropped: HELLO_ASYNC_LOG_QUEUE were waiting for a blocked output.",
    registry=None,
)


class LogWriter:
    """The queue of records, and the thread that writes them."""

    def __init__(
        self,
        *,
        format: str = "console",
        interval: float = INTERVAL,
        queue: int = QUEUE,
        streams: tuple[TextIO, TextIO] | None = None,
    ) -> None:
        self._streams = streams  # (stdout, stderr); None: sys's, as they are when written
        self._records: deque[logging.LogRecord] = deque()
        self.limit = queue
        # Drops are rare (the output is blocked): a lock there costs the usual path nothing.
        # Reentrant: a signal handler that logs may run while its own thread holds it.
        self._drop_lock = threading.RLock()
        self._dropped = 0  # records dropped in all
        self._reported = 0  # of which the console has been told
        self.interval = interval
        self.set_format(format)
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.running = False
        self.blocked = False  # stop() found the thread stuck in a write: nobody waits for it

    def set_format(self, format: str) -> None:
        if format == "json":
            self._default: logging.Formatter = JsonFormatter()
            self._access: logging.Formatter = self._default
        else:
            self._default = ConsoleFormatter()
            self._access = ConsoleAccessFormatter()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="hello-async-log-writer", daemon=True
                )
                self._thread.start()
                self.running = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.drain()

    def stop(self) -> None:
        """Stop the thread, then write what is left; a blocked output is not waited for (the
        lifespan's shutdown runs this on the event loop, within the grace)."""
        self.running = False
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=STUCK)
            if thread.is_alive():  # stuck in a write: it writes the rest if the write returns
                self.blocked = True
                return
        self.drain()

    def put_nowait(self, record: logging.LogRecord) -> None:
        """Queue ``record``, or drop and count it when the queue is full; never waits.

        No lock on the way in: the check and the append are two steps, so threads logging at
        the same instant may each put one record past the bound.
        """
        records = self._records
        if len(records) < self.limit:
            records.append(record)
        else:
            with self._drop_lock:
                self._dropped += 1
            RECORDS_DROPPED.inc()

    @property
    def dropped(self) -> int:
        """Records dropped in all, the queue being full."""
        return self._dropped

    def drain(self, *, wait: bool = True) -> None:
        """Format and write every queued record, in order (from any thread); then, if records
        were dropped since the last drain, a line that says how many. Without ``wait``, nothing
        is done while another thread is writing."""
        if not self._drain_lock.acquire(blocking=wait):
            return
        try:
            records = self._records
            while records:
                stream: TextIO | None = None
                lines: list[str] = []
                out, err = self._streams or (sys.stdout, sys.stderr)
                while records:
                    record = records[0]
                    target = out if record.name == ACCESS else err
                    if stream is not None and target is not stream:
                        break  # another stream: write this run first, keep the order
                    stream = target
                    records.popleft()
                    lines.append(self._format(record))
                if stream is not None and lines:
                    self._write(stream, "\n".join(lines) + "\n")
            self._report_drops()
            self.blocked = False  # the output took what was queued
        finally:
            self._drain_lock.release()

    def flush(self) -> None:
        """Write what is queued now, unless the output is blocked."""
        self.drain(wait=not self.blocked)

    def _report_drops(self) -> None:
        with self._drop_lock:
            count = self._dropped - self._reported
            self._reported = self._dropped
        if count:
            record = logging.LogRecord(__name__, logging.WARNING, "", 0, DROPPED, (count,), None)
            record.request_id = None
            stderr = (self._streams or (sys.stdout, sys.stderr))[1]
            self._write(stderr, self._format(record) + "\n")

    def _format(self, record: logging.LogRecord) -> str:
        formatter = self._default
        if record.name == ACCESS:
            formatter = self._access
            hide_secrets(record)
        try:
            return formatter.format(record)
        except Exception:
            return f"Logging error in record from {record.name}:\n{traceback.format_exc()}"

    @staticmethod
    def _write(stream: TextIO, text: str) -> None:
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing to write to
            pass

    def write_now(self, record: logging.LogRecord) -> None:
        """Queue ``record`` and write the queue (no thread running: at exit, or before start);
        with the output blocked, queue it only: the stuck thread writes it if it can."""
        self.put_nowait(record)
        self.flush()

    def pending(self) -> int:
        return len(self._records)


# Query parameters whose values are not for the log: a console's session token lets whoever
# holds it follow that console's requests (hello_async.live.console).
SECRET_PARAMS = re.compile(r"(?<=[?&]session=)[^&]*")


def hide_secrets(record: logging.LogRecord) -> None:
    """An access record's path with its secret query values replaced by ``***``."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 5 and "session=" in str(args[2]):
        record.args = (*args[:2], SECRET_PARAMS.sub("***", str(args[2])), *args[3:])


class DeferredHandler(logging.Handler):
    """Hands each record to the writer as it is: formatting happens in the writer's thread.

    ``QueueHandler``'s work in one step, on the caller's thread: the record gets its request's
    id (hello_async.logs.context), goes to whatever taps that request (hello_async.logs.taps),
    and, at or above ``console_level``, to the writer's queue. No lock, no wait: the queue
    takes the record or, full, counts it dropped; no formatting: the writer does that.
    """

    def __init__(
        self, writer: LogWriter, *, console_level: int | str = logging.NOTSET, taps: bool = False
    ) -> None:
        super().__init__()
        self.writer = writer
        self.taps = taps  # the project's lines are tapped; Uvicorn's and Django's are not
        if isinstance(console_level, str):
            console_level = logging.getLevelNamesMapping()[console_level]
        self.console_level = console_level

    def handle(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id = context.request_id.get()
        if self.taps and taps.tapped:
            for tap in taps.tapped.get(request_id, ()):  # type: ignore[arg-type]
                try:
                    tap(record)
                except Exception:  # a tap's failure is not the logging code's
                    self.handleError(record)
        if record.levelno >= self.console_level:
            self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.writer.running:
                self.writer.put_nowait(record)  # as it is: formatted in the writer's thread
            else:
                self.writer.write_now(record)  # closed (at exit): written here and now
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.stop()
        super().close()


_writer: LogWriter | None = None


def writer(format: str | None = None, queue: int | None = None) -> LogWriter:
    """The process's writer (one, however many handlers feed it), started."""
    global _writer
    if _writer is None:
        _writer = LogWriter(format=format or "console", queue=queue or QUEUE)
    else:
        if format is not None:
            _writer.set_format(format)
        if queue is not None:
            _writer.limit = queue
    _writer.start()
    return _writer


def deferred_handler(
    format: str = "console",
    console_level: str = "NOTSET",
    taps: bool = False,
    queue: int | None = None,
) -> DeferredHandler:
    """A handler feeding the process's writer (``LOGGING``'s factory); the console gets what is
    at ``console_level`` or above, the taps (if ``taps``) everything; the writer holds at most
    ``queue`` records."""
    lean_records()
    return DeferredHandler(writer(format, queue), console_level=console_level, taps=taps)


def lean_records() -> None:
    """Records without what no line here shows: the caller's file and line (a walk up the
    stack per record), the process's and the task's names (the "Optimization" section of
    Python's logging HOWTO; the thread's name stays). Process-wide, once logging is set up."""
    logging._srcfile = None
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # (3.12; not in the stubs)


def route_uvicorn() -> None:
    """Uvicorn's loggers that have handlers (its access log only when it is on) write through
    the process's writer instead; their levels and propagation stay as Uvicorn set them."""
    for name in ("uvicorn", "uvicorn.error", ACCESS):
        logger = logging.getLogger(name)
        if logger.handlers and not all(isinstance(h, DeferredHandler) for h in logger.handlers):
            logger.handlers = [DeferredHandler(writer())]


def finish() -> None:
    """Write what is queued, and every later line as it is logged (at the lifespan's shutdown:
    Uvicorn then logs its last lines and re-raises the signal; no thread may hold any)."""
    if _writer is not None:
        _writer.stop()
