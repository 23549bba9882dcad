"""One shutdown budget, measured from the signal: the grace shared by requests and background work.

On SIGTERM (or Ctrl-C) Uvicorn stops accepting, waits up to ``--timeout-graceful-shutdown`` for
the requests in flight, and only then sends the lifespan's shutdown, where background work
drains (hello_async.ops.lifespan). Given the whole ``HELLO_ASYNC_SHUTDOWN_GRACE`` there too, the
process could take twice the grace to exit. The drain gets what is left of one grace instead,
counted from the signal, with a floor of :data:`FLOOR` so that it still cancels and logs what it
cuts.

Uvicorn does not hand the signal's time to the application, so :func:`install` (called at
lifespan startup) wraps the handlers Uvicorn has set for SIGTERM and SIGINT by then: Uvicorn's
``Server.capture_signals`` installs them with ``signal.signal`` before the lifespan starts, and
Gunicorn's ``UvicornWorker`` runs the same ``Server.serve``. The wrapper notes the time of the
first signal, runs the ``on_signal`` callback given to :func:`install` (the lifespan ends the
event streams that never end by themselves, which Uvicorn would otherwise wait for), and calls
Uvicorn's handler as before. Where no Python handler is set (a signal at
its default or ignored), or off the main thread, nothing is wrapped and the drain gets the whole
grace, as before. Uvicorn puts its own handlers back once it has shut down; :func:`uninstall`
puts them back earlier, at the end of the lifespan's shutdown.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

FLOOR = 0.1  # seconds the drain always gets, however late the lifespan's shutdown starts
SIGNALS = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[int, FrameType | None], Any]


class ShutdownClock:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.signalled_at: float | None = None
        self._on_signal: Callable[[], object] | None = None
        self._wrapped: dict[int, tuple[Handler, Handler]] = {}  # signal: (ours, theirs)

    def install(self, *, on_signal: Callable[[], object] | None = None) -> None:
        """Wrap the SIGTERM and SIGINT handlers set now, to note when the first signal came and
        run ``on_signal`` then. It runs inside the signal handler: it must only schedule work
        (``loop.call_soon_threadsafe``), never take a lock."""
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set signal handlers
        self.signalled_at = None
        self._on_signal = on_signal
        for signum in SIGNALS:
            theirs = signal.getsignal(signum)
            if not callable(theirs) or signum in self._wrapped:
                continue
            ours = self._wrap(theirs)
            signal.signal(signum, ours)
            self._wrapped[signum] = (ours, theirs)

    def uninstall(self) -> None:
        """Put back the handlers :meth:`install` wrapped, unless someone replaced ours since."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, (ours, theirs) in self._wrapped.items():
            if signal.getsignal(signum) is ours:
                signal.signal(signum, theirs)
        self._wrapped.clear()

    def _wrap(self, theirs: Handler) -> Handler:
        def note_and_pass_on(signum: int, frame: FrameType | None) -> Any:
            if self.signalled_at is None:
                self.signalled_at = self._clock()
                if self._on_signal is not None:
                    try:
                        self._on_signal()
                    except Exception:  # the server must still shut down
                        logger.exception("The shutdown callback failed")
            return theirs(signum, frame)

        return note_and_pass_on

    def remaining(self, grace: float) -> float:
        """Seconds left of ``grace`` since the signal (all of it if none was seen), at least
        :data:`FLOOR` (or ``grace`` itself when smaller)."""
        if self.signalled_at is None:
            return grace
        left = grace - (self._clock() - self.signalled_at)
        return max(left, min(grace, FLOOR))


_clock = ShutdownClock()


def install(*, on_signal: Callable[[], object] | None = None) -> None:
    _clock.install(on_signal=on_signal)


def uninstall() -> None:
    _clock.uninstall()


def remaining(grace: float) -> float:
    return _clock.remaining(grace)
