"""How an idle worker waits for work: woken by PostgreSQL at once, or at the poll interval.

On PostgreSQL a trigger on the queue table (migration ``0004_tasks_ready_notify``) sends
``NOTIFY hello_async_task_ready`` whenever a task becomes READY: queued by anyone (a web worker,
the admin, a shell), or put back by a retry, a give-back or the reaper. It is sent when that
transaction commits, so a woken worker always finds the row, and a rolled-back order wakes no one.

Each worker process LISTENs on a connection of its own (autocommit, outside Django's pool), read
by a thread of its own: the notifications never pile up in the socket while the worker is busy,
and the main thread waits on an event, making no query while idle. One notification wakes every
idle worker of its queue; the claim (``SELECT ... FOR UPDATE SKIP LOCKED``) gives the task to one,
the others find nothing and wait again. A task READY for later (a retry's ``run_after``) wakes
the workers when it is due, not when it is written.

Polling stays as the safety net, at ``HELLO_ASYNC_TASK_POLL_INTERVAL``: on SQLite (no LISTEN), with
``HELLO_ASYNC_TASK_LISTEN=0``, while the listening connection is lost (it is reconnected with a
backoff, and its return wakes the worker, which may have missed notifications meanwhile).
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

CHANNEL = "hello_async_task_ready"  # the trigger's, in hello_async/migrations/0004_*
IDLE_SLICE = 0.1  # an idle worker notices a stop request, or a task come due, within this (s)
RECONNECT_MAX = 30.0  # the longest wait between two tries to listen again (s)
DUE_MAX = 64  # the nearest times of tasks READY for later kept; the rest are found by polling
# run_after of a task queued to run at once: django-tasks-db's get_date_max(), 9999-01-01.
_AT_ONCE = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


class Wakeup(Protocol):
    def clear(self) -> None:
        """A claim follows: what woke the worker so far is answered by it."""

    def wait(self, timeout: float, stopping: Callable[[], bool]) -> None:
        """Return when a task may be READY, after ``timeout`` s, or soon after ``stopping()``."""

    def close(self) -> None: ...


class Poll:
    """Look again every ``timeout`` seconds: SQLite's way, and the one without LISTEN."""

    def clear(self) -> None:
        pass

    def wait(self, timeout: float, stopping: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while not stopping() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(IDLE_SLICE, left))

    def close(self) -> None:
        pass


class Listener:
    """LISTEN on a connection of its own; wake the worker when a task of its queue is due."""

    def __init__(
        self,
        conn_params: dict[str, Any],
        *,
        queue_name: str,
        backend_name: str,
        connect_timeout: float,
    ) -> None:
        self._params = {
            **conn_params,
            "autocommit": True,
            "application_name": "hello-async worker (listen)",
            "connect_timeout": max(1, math.ceil(connect_timeout)),
            # A peer gone without a word (a host, a network) is noticed within about a minute.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        self.queue_name = queue_name
        self.backend_name = backend_name
        self._woken = threading.Event()  # a task of the queue is READY now
        self._lock = threading.Lock()
        self._dues: list[float] = []  # a heap: time.monotonic() when tasks READY later are due
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None  # the reading thread's own
        self._warned = False  # the current outage is logged

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def start(self) -> None:
        """LISTEN (or try to) before the worker's first claim, then read from a thread."""
        self._conn = self._connect()
        self._thread = threading.Thread(target=self._read, name="task-listener", daemon=True)
        self._thread.start()

    def clear(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._woken.clear()
            while self._dues and self._dues[0] <= now:
                heapq.heappop(self._dues)  # due: the claim that follows is for it

    def wait(self, timeout: float, stopping: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while not stopping():
            with self._lock:
                until = min(deadline, self._dues[0]) if self._dues else deadline
            left = until - time.monotonic()
            if left <= 0 or self._woken.wait(min(IDLE_SLICE, left)):
                return

    def close(self) -> None:
        """Stop reading; the reading thread closes its connection (within a slice)."""
        self._closing.set()
        if self._thread is None:
            self._disconnect()
        else:
            self._thread.join(timeout=IDLE_SLICE * 10)

    def _read(self) -> None:
        backoff = 0.5
        try:
            while not self._closing.is_set():
                if self._conn is None:
                    if self._closing.wait(backoff):
                        return
                    backoff = min(backoff * 2, RECONNECT_MAX)
                    self._conn = self._connect()
                    if self._conn is not None:
                        backoff = 0.5
                        self._woken.set()  # notifications may have been missed meanwhile
                    continue
                try:
                    for notify in self._conn.notifies(timeout=IDLE_SLICE):
                        self._received(notify.payload)
                except Exception as exc:
                    if not self._closing.is_set():
                        self._outage(f"lost its connection ({exc})")
                    self._disconnect()
        finally:
            self._disconnect()

    def _received(self, payload: str) -> None:
        try:
            task = json.loads(payload)
            ours = task["queue"] == self.queue_name and task["backend"] == self.backend_name
            run_after = float(task["run_after"])
        except (ValueError, KeyError, TypeError):
            ours, run_after = True, 0.0  # not ours to judge: look
        if not ours:
            return
        delay = 0.0 if run_after >= _AT_ONCE else run_after - time.time()
        if delay <= 0:
            self._woken.set()
            return
        due = time.monotonic() + delay
        with self._lock:  # the waiter takes it up within a slice
            if len(self._dues) >= DUE_MAX:
                latest = max(self._dues)
                if due >= latest:
                    return  # kept are the nearest; this one is found by polling
                self._dues.remove(latest)
                heapq.heapify(self._dues)
            heapq.heappush(self._dues, due)

    def _connect(self) -> psycopg.Connection[Any] | None:
        import psycopg
        from psycopg import sql

        try:
            conn = psycopg.Connection.connect(**self._params)
        except Exception as exc:
            self._outage(f"cannot connect ({exc})")
            return None
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        except Exception as exc:
            conn.close()
            self._outage(f"cannot LISTEN ({exc})")
            return None
        if self._warned:
            logger.warning("Task listener: listening again")
            self._warned = False
        return conn

    def _outage(self, what: str) -> None:
        """Logged once an outage, as a warning: the workers go on, by polling."""
        level = logging.DEBUG if self._warned else logging.WARNING
        logger.log(level, "Task listener %s; polling until it is back", what)
        self._warned = True

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                logger.debug("Task listener: closing its connection failed", exc_info=True)
