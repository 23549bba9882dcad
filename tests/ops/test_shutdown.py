"""The shutdown clock (hello_async.ops.shutdown): the first signal's time, noted in the handlers
Uvicorn set, and the callback run then; with no real server (raise_signal in this process)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from hello_async.ops import shutdown


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sigterm_handler() -> Iterator[tuple[list[int], object]]:
    """A Python SIGTERM handler that records, as Uvicorn's would be; the previous one restored."""
    seen: list[int] = []

    def record(signum: int, frame: object) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, record)
    try:
        yield seen, record
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_clock_notes_the_first_signal_and_passes_each_on(
    sigterm_handler: tuple[list[int], object],
) -> None:
    seen, record = sigterm_handler
    now = Clock()
    clock = shutdown.ShutdownClock(clock=now)
    clock.install()
    try:
        assert signal.getsignal(signal.SIGTERM) is not record
        assert clock.remaining(3.0) == 3.0  # no signal yet: the whole grace
        signal.raise_signal(signal.SIGTERM)
        now.now += 2.5
        signal.raise_signal(signal.SIGTERM)  # a second signal does not move the start
        assert seen == [signal.SIGTERM, signal.SIGTERM]
        assert clock.remaining(3.0) == pytest.approx(0.5)
        now.now += 10
        assert clock.remaining(3.0) == shutdown.FLOOR  # late: the floor, to cancel and log
        assert clock.remaining(0.05) == 0.05  # never more than the grace itself
    finally:
        clock.uninstall()
    assert signal.getsignal(signal.SIGTERM) is record


def test_clock_leaves_a_signal_with_no_python_handler_alone() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    clock = shutdown.ShutdownClock()
    try:
        clock.install()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.raise_signal(signal.SIGTERM)
        assert clock.remaining(3.0) == 3.0  # nothing noted: the whole grace, as before
        clock.uninstall()
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_clock_installs_nothing_off_the_main_thread(
    sigterm_handler: tuple[list[int], object],
) -> None:
    _, record = sigterm_handler
    clock = shutdown.ShutdownClock()
    thread = threading.Thread(target=clock.install)
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is record


def test_clock_uninstall_keeps_a_handler_set_since(
    sigterm_handler: tuple[list[int], object],
) -> None:
    clock = shutdown.ShutdownClock()
    clock.install()

    def later(signum: int, frame: object) -> None:
        pass

    signal.signal(signal.SIGTERM, later)
    clock.uninstall()
    assert signal.getsignal(signal.SIGTERM) is later


def test_clock_runs_its_callback_at_the_first_signal_only(
    sigterm_handler: tuple[list[int], object],
) -> None:
    seen, _ = sigterm_handler
    called: list[int] = []
    clock = shutdown.ShutdownClock(clock=Clock())
    clock.install(on_signal=lambda: called.append(len(seen)))
    try:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)
    finally:
        clock.uninstall()
    assert called == [0]  # once, before Uvicorn's handler ran
    assert seen == [signal.SIGTERM, signal.SIGTERM]


def test_a_failing_callback_still_passes_the_signal_on(
    sigterm_handler: tuple[list[int], object], caplog: pytest.LogCaptureFixture
) -> None:
    seen, _ = sigterm_handler

    def fail() -> None:
        raise RuntimeError("boom")

    clock = shutdown.ShutdownClock(clock=Clock())
    clock.install(on_signal=fail)
    try:
        signal.raise_signal(signal.SIGTERM)
    finally:
        clock.uninstall()
    assert seen == [signal.SIGTERM]
    assert "The shutdown callback failed" in caplog.text
