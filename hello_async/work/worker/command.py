"""``hello-async worker [--processes N]``: one worker in this process, or N supervised children.

A child that dies is restarted; a stop signal is forwarded to every child once. A worker stops
when the process that started it is gone, however it died (hello_async.work.worker.parent): the
supervisor's children watch a pipe (``--watch-fd``), ``hello-async`` (serve) passes ``--parent``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from types import FrameType

from hello_async.work.worker import parent as parent_watch
from hello_async.work.worker.config import WorkerConfig
from hello_async.work.worker.errors import _GiveBack
from hello_async.work.worker.runner import Worker
from hello_async.work.worker.wakeup import Listener, Poll, Wakeup

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hello-async worker",
        description="Run task workers on the database queue (Django Tasks, django-tasks-db).",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="worker processes (default: %(default)s)"
    )
    parser.add_argument("--queue", default="default", help="queue name (default: %(default)s)")
    parser.add_argument(
        "--parent", type=int, default=0, help="stop (gracefully) when this process is gone"
    )
    parser.add_argument(
        "--watch-fd",
        type=int,
        default=-1,
        help="stop (gracefully) at the end of this inherited pipe (the supervisor's)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.processes < 1:
        print("hello-async worker: --processes must be 1 or more", file=sys.stderr)
        return 2
    if args.processes > 1:
        return supervise(args.processes, queue=args.queue)
    return run_worker(queue=args.queue, parent=args.parent, watch_fd=args.watch_fd)


def run_worker(*, queue: str = "default", parent: int = 0, watch_fd: int = -1) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")
    django.setup()
    config = WorkerConfig.from_settings()
    wakeup = open_wakeup(config, queue_name=queue, backend_name="default")
    worker = Worker(config, queue_name=queue, wakeup=wakeup)
    worker.install_signals()
    if parent:
        parent_watch.watch_pid(parent, stopping=lambda: worker.stopping)
    if watch_fd >= 0:
        parent_watch.watch_pipe(watch_fd, stopping=lambda: worker.stopping)
    logger.info(
        "Task worker %s ready (queue %s, %s, lease %g s, max attempts %d, time limit %s)",
        worker.worker_id,
        queue,
        "woken by NOTIFY" if isinstance(wakeup, Listener) else "polling",
        worker.config.lease,
        worker.config.max_attempts,
        f"{worker.config.time_limit:g} s" if worker.config.time_limit > 0 else "none",
    )
    try:
        with worker.heartbeat():
            worker.run()
    except _GiveBack:
        logging.shutdown()
        # The task's event-loop thread may still be waiting on this thread: do not join it.
        os._exit(1)
    finally:
        wakeup.close()
    logger.info("Task worker %s stopped after %d tasks", worker.worker_id, worker.tasks_run)
    return 0


def open_wakeup(config: WorkerConfig, *, queue_name: str, backend_name: str) -> Wakeup:
    """LISTEN on PostgreSQL (unless ``HELLO_ASYNC_TASK_LISTEN=0``); poll elsewhere."""
    from django.db import connections
    from django_tasks_db.models import DBTaskResult

    connection = connections[DBTaskResult.objects.db]
    if not config.listen or connection.vendor != "postgresql":
        return Poll()
    listener = Listener(
        connection.get_connection_params(),
        queue_name=queue_name,
        backend_name=backend_name,
        # Connecting waits no longer than a poll: the worker goes on polling meanwhile.
        connect_timeout=config.poll_interval,
    )
    listener.start()
    return listener


def supervise(processes: int, *, queue: str) -> int:
    """Run ``processes`` single workers as children; restart one that dies; stop all on signal."""
    # The children's farewell: only this process holds the write end (os.pipe's ends are not
    # inherited), so however it dies, the kernel closes it and each child reads EOF.
    watch_r, watch_w = os.pipe()
    argv = [sys.executable, "-m", "hello_async.cli", "worker", "--queue", queue]
    argv += ["--watch-fd", str(watch_r)]

    def spawn() -> subprocess.Popen[bytes]:
        # Sessions of their own: a terminal's Ctrl-C reaches only this process, which forwards
        # it once (a second signal would make a worker give its task back at once).
        return subprocess.Popen(argv, start_new_session=True, pass_fds=(watch_r,))

    children = [spawn() for _ in range(processes)]
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping.is_set():
            for i, child in enumerate(children):
                code = child.poll()
                if code is not None and not stopping.is_set():
                    print(
                        f"hello-async worker: process {child.pid} exited ({code}), restarting",
                        file=sys.stderr,
                        flush=True,
                    )
                    children[i] = spawn()
            stopping.wait(1.0)
        for child in children:
            try:
                child.wait(timeout=_grace() + 10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(watch_r)
        os.close(watch_w)
    return 0


def _grace() -> float:
    """The children's shutdown grace, read without Django: this process never sets it up."""
    try:
        return float(os.environ.get("HELLO_ASYNC_TASK_SHUTDOWN_GRACE") or 30.0)
    except ValueError:
        return 30.0  # the workers themselves report the bad value
