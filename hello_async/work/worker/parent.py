"""A worker outlives no one: it stops, as on SIGTERM, when the process that started it is gone.

``hello-async worker --processes N`` hands each child the read end of a pipe whose write end only
the supervisor holds. However the supervisor dies (SIGKILL too) the kernel closes that end, and
the child reads EOF at once: no polling, on every POSIX system. ``hello-async`` (serve) passes its
pid instead (``--parent``), watched through ``os.getppid()``. Not Linux's PR_SET_PDEATHSIG: it is
tied to the thread that forked, not the process, and Linux only.

Either way the worker stops as on SIGTERM (an idle one at once, a busy one after its task or its
grace), and only if no stop came yet: a second one would give its task back at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

PPID_CHECK = 0.5  # how often the pid watch looks at os.getppid() (s)


def watch_pipe(fd: int, *, stopping: Callable[[], bool]) -> threading.Thread:
    """Stop when every write end of the pipe ``fd`` reads from is closed (its holder is gone)."""

    def watch() -> None:
        try:
            while os.read(fd, 512):
                pass  # nobody writes; whatever comes is not a farewell
        except OSError as exc:
            logger.warning("Supervisor pipe unreadable (%s): taken as the supervisor gone", exc)
        _stop("Supervisor is gone", stopping)

    return _start(watch, "supervisor-watch")


def watch_pid(pid: int, *, stopping: Callable[[], bool]) -> threading.Thread:
    """Stop when this process's parent is no longer ``pid`` (it died; we were re-parented)."""

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(PPID_CHECK)
        _stop(f"Parent process {pid} is gone", stopping)

    return _start(watch, "parent-watch")


def _start(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _stop(reason: str, stopping: Callable[[], bool]) -> None:
    if stopping():
        return
    logger.warning("%s: stopping", reason)
    # The main thread's handler, as for a real SIGTERM: it alone may interrupt the task.
    os.kill(os.getpid(), signal.SIGTERM)
