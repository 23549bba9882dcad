"""The deferred handler and its writer: records out of the caller's thread, in order, none lost."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from hello_async.logs import handlers
from hello_async.logs.context import request_id
from hello_async.logs.handlers import DeferredHandler, LogWriter


@pytest.fixture
def streams() -> tuple[io.StringIO, io.StringIO]:
    return io.StringIO(), io.StringIO()


def logger_with(handler: logging.Handler, name: str = "hello_async.test") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def test_records_are_formatted_in_the_writers_thread_not_the_callers(
    streams: tuple[io.StringIO, io.StringIO],
) -> None:
    seen: list[str] = []

    class Spy(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            seen.append(threading.current_thread().name)
            return record.getMessage()

    writer = LogWriter(interval=3600, streams=streams)  # no drain by the timer: only ours below
    writer._default = Spy()
    handler = DeferredHandler(writer)
    writer.start()
    try:
        logger_with(handler).info("Getting smokeables...")
        assert seen == [] and writer.pending() == 1  # queued as it is, not formatted
        drainer = threading.Thread(target=writer.drain, name="the-writer")
        drainer.start()
        drainer.join()
        assert seen == ["the-writer"]
        assert streams[1].getvalue() == "Getting smokeables...\n"
    finally:
        writer.stop()


def test_lines_keep_their_order_across_stdout_and_stderr(
    streams: tuple[io.StringIO, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    merged: list[tuple[str, str]] = []
    out, err = streams
    monkeypatch.setattr(out, "write", lambda text: merged.append(("out", text)) or len(text))
    monkeypatch.setattr(err, "write", lambda text: merged.append(("err", text)) or len(text))
    writer = LogWriter(interval=3600, streams=streams)
    handler = DeferredHandler(writer)
    writer.start()
    try:
        app = logger_with(handler)
        access = logger_with(handler, "uvicorn.access")
        app.info("1")
        app.info("2")
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/", "1.1", 200)
        app.info("3")
        writer.drain()
    finally:
        writer.stop()
    assert [stream for stream, _ in merged] == ["err", "out", "err"]  # a write per run
    text = "".join(text for _, text in merged)
    assert text.index("1") < text.index("2") < text.index("GET /") < text.rindex("3")


def test_a_stopped_writer_writes_at_once_and_stop_drains_what_is_queued(
    streams: tuple[io.StringIO, io.StringIO],
) -> None:
    writer = LogWriter(interval=3600, streams=streams)
    handler = DeferredHandler(writer)
    writer.start()
    logger = logger_with(handler)
    logger.info("queued")
    assert streams[1].getvalue() == ""
    handler.close()  # what logging.shutdown() does at exit
    assert streams[1].getvalue().endswith("queued\n")
    logger.info("after the end")  # the thread is gone: written here and now
    assert streams[1].getvalue().endswith("after the end\n")


def test_the_thread_drains_by_itself(streams: tuple[io.StringIO, io.StringIO]) -> None:
    writer = LogWriter(interval=0.001, streams=streams)
    handler = DeferredHandler(writer)
    writer.start()
    written = threading.Event()
    real_write = writer._write

    def write(stream: io.StringIO, text: str) -> None:
        real_write(stream, text)
        written.set()

    writer._write = write  # type: ignore[method-assign]
    writer.start()
    try:
        logger_with(handler).info("Returning flavor")
        assert written.wait(5)
        assert "Returning flavor" in streams[1].getvalue()
    finally:
        writer.stop()


def test_the_request_id_is_taken_where_the_record_is_made(
    streams: tuple[io.StringIO, io.StringIO],
) -> None:
    writer = LogWriter(interval=3600, format="json", streams=streams)
    handler = DeferredHandler(writer)
    writer.start()
    logger = logger_with(handler)
    token = request_id.set("abc-1")
    try:
        logger.info("1")
    finally:
        request_id.reset(token)
    logger.info("no request")
    writer.stop()
    lines = streams[1].getvalue().splitlines()
    assert '"request_id": "abc-1"' in lines[0] and '"request_id": null' in lines[1]


def test_uvicorns_loggers_are_routed_only_where_they_have_handlers() -> None:
    access, error = logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn")
    saved = access.handlers, error.handlers
    try:
        access.handlers = []  # --no-access-log
        error.handlers = [logging.StreamHandler()]
        handlers.route_uvicorn()
        assert access.handlers == []
        assert [type(h) for h in error.handlers] == [DeferredHandler]
    finally:
        access.handlers, error.handlers = saved


def test_taps_see_a_requests_records_below_the_consoles_level(
    streams: tuple[io.StringIO, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hello_async.logs import taps

    monkeypatch.setattr(taps, "LOGGERS", ["hello_async.tapped"])
    monkeypatch.setattr(taps, "tapped", {})  # none left by another test
    monkeypatch.setattr(taps, "_levels", {})
    writer = LogWriter(interval=3600, streams=streams)
    logger = logger_with(
        DeferredHandler(writer, console_level="WARNING", taps=True), "hello_async.tapped"
    )
    logger.setLevel(logging.WARNING)
    tapped: list[str] = []
    token = request_id.set("r-1")
    try:

        def tap(record: logging.LogRecord) -> None:
            tapped.append(record.getMessage())

        taps.add("r-1", tap)
        logger.info("Getting smokeables...")  # below the console's level: a tap still sees it
        taps.remove("r-1", tap)
        logger.info("untapped")
    finally:
        request_id.reset(token)
    writer.stop()
    assert tapped == ["Getting smokeables..."]
    assert streams[1].getvalue() == ""  # the console writes only WARNING and above
    assert logger.level == logging.WARNING  # the taps gave the level back


def test_a_request_may_have_several_taps_and_a_failing_one_breaks_nothing(
    streams: tuple[io.StringIO, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hello_async.logs import taps

    monkeypatch.setattr(taps, "LOGGERS", ["hello_async.tapped"])
    monkeypatch.setattr(taps, "tapped", {})
    monkeypatch.setattr(taps, "_levels", {})
    handler = DeferredHandler(LogWriter(interval=3600, streams=streams), taps=True)
    errors: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", errors.append)
    logger = logger_with(handler, "hello_async.tapped")
    logger.setLevel(logging.WARNING)
    console: list[str] = []
    live: list[logging.LogRecord] = []

    class Console:  # a tap that is a bound method, as the console's is
        def line(self, record: logging.LogRecord) -> None:
            console.append(record.getMessage())

    def broken(record: logging.LogRecord) -> None:
        raise KeyError("gone")

    watcher = Console()
    token = request_id.set("r-2")
    try:
        taps.add("r-2", watcher.line)
        taps.add("r-2", broken)
        taps.add("r-2", live.append)
        logger.info("one")  # the broken tap between the two: both others still get it
        taps.remove("r-2", watcher.line)  # a new bound method, equal to the one added
        taps.remove("r-2", broken)
        logger.info("two")
        assert logger.level == logging.INFO  # one tap left: INFO still let through
        taps.remove("r-2", live.append)
    finally:
        request_id.reset(token)
    assert console == ["one"]
    assert [r.getMessage() for r in live] == ["one", "two"]
    assert [r.getMessage() for r in errors] == ["one"]
    assert taps.tapped == {}
    assert logger.level == logging.WARNING


@pytest.mark.parametrize("format", ["console", "json"])
def test_a_consoles_token_never_reaches_the_access_log(
    format: str, streams: tuple[io.StringIO, io.StringIO]
) -> None:
    writer = LogWriter(format=format, interval=3600, streams=streams)
    path = "/console/events/?session=s3cr3t-token_value&x=1"
    record = logging.LogRecord(
        handlers.ACCESS,
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )
    writer.write_now(record)
    line = streams[0].getvalue()
    assert "s3cr3t" not in line
    assert "/console/events/?session=***&x=1" in line


class BlockedStream(io.StringIO):
    """An output that takes nothing until released, as a full pipe nobody reads."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked = threading.Event()  # a write is waiting
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.blocked.set()
        self.released.wait(30)
        return super().write(text)


def test_a_blocked_output_bounds_the_queue_counts_the_drops_and_says_so_after() -> None:
    out, err = io.StringIO(), BlockedStream()
    writer = LogWriter(interval=0.001, queue=5, streams=(out, err))
    logger = logger_with(DeferredHandler(writer))
    writer.start()
    try:
        logger.info("first")
        assert err.blocked.wait(5)  # the writer's thread is stuck writing "first"
        sizes = []
        for n in range(100):
            logger.info("record %d", n)  # returns at once: full, the record is dropped
            sizes.append(writer.pending())
        assert max(sizes) == 5 and writer.pending() == 5
        assert writer.dropped == 95
        from hello_async.ops import metrics

        assert "hello_async_log_records_dropped_total 95.0" in metrics.render().decode()
    finally:
        err.released.set()
        thread = writer._thread
        writer.stop()
    assert thread is not None
    thread.join(10)  # it wrote "first", then what was queued, then the report
    lines = err.getvalue().splitlines()
    assert [line.split()[-1] for line in lines[:6]] == ["first", "0", "1", "2", "3", "4"]
    assert lines[6].startswith("WARNING:")
    assert lines[6].endswith("95 log records dropped while the output was blocked")
    assert len(lines) == 7
    logger.info("after")  # nothing more dropped: no second report
    assert err.getvalue().splitlines()[7:] == [lines[0].replace("first", "after")]


def test_the_drop_report_is_json_in_json_format() -> None:
    out, err = io.StringIO(), io.StringIO()
    writer = LogWriter(format="json", interval=3600, queue=1, streams=(out, err))
    handler = DeferredHandler(writer)
    writer.running = True  # queued, not written: no thread drains until we do
    logger = logger_with(handler)
    logger.info("kept")
    logger.info("dropped")
    writer.drain()
    kept, report = (json.loads(line) for line in err.getvalue().splitlines())
    assert kept["message"] == "kept"
    assert report["level"] == "WARNING" and report["request_id"] is None
    assert report["message"] == "1 log records dropped while the output was blocked"


def test_the_setting_bounds_the_process_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "_writer", None)
    try:
        handler = handlers.deferred_handler(queue=3)
        assert handler.writer.limit == 3
        assert handlers.writer().limit == 3  # Uvicorn's loggers share it, bound and all
    finally:
        handlers.finish()


def test_stop_and_later_lines_do_not_wait_for_a_blocked_output() -> None:
    out, err = io.StringIO(), BlockedStream()
    writer = LogWriter(interval=0.001, streams=(out, err))
    logger = logger_with(DeferredHandler(writer))
    writer.start()
    thread = writer._thread
    assert thread is not None
    try:
        logger.info("first")
        assert err.blocked.wait(5)  # the writer's thread is stuck writing "first"
        logger.info("queued")
        # What the lifespan's shutdown calls, on the event loop; then Uvicorn's last lines.
        for step in (writer.stop, lambda: logger.info("the end")):
            caller = threading.Thread(target=step, daemon=True)
            caller.start()
            caller.join(10)
            assert not caller.is_alive(), f"{step} waited for the blocked output"
        assert writer.blocked and not writer.running
    finally:
        err.released.set()
    thread.join(10)  # the write returned: the thread wrote the rest, then ended
    assert not thread.is_alive()
    assert [line.split()[-1] for line in err.getvalue().splitlines()] == ["first", "queued", "end"]
    assert not writer.blocked
