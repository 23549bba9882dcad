"""``hello-async worker [--processes N]``: one worker in this process, or N supervised children.

A child that dies is restarted; a stop signal is forwarded to every child once. ``--parent``
(``hello-async`` serve's) stops the worker when that process is gone, so none is left orphaned.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from hello_async.work.worker.config import WorkerConfig
from hello_async.work.worker.errors import _GiveBack
from hello_async.work.worker.runner import Worker

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.processes < 1:
        print("hello-async worker: --processes must be 1 or more", file=sys.stderr)
        return 2
    if args.processes > 1:
        return supervise(args.processes, queue=args.queue)
    return run_worker(queue=args.queue, parent=args.parent)


def run_worker(*, queue: str = "default", parent: int = 0) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")
    django.setup()
    worker = Worker(WorkerConfig.from_settings(), queue_name=queue)
    worker.install_signals()
    if parent:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    logger.info(
        "Task worker %s ready (queue %s, lease %g s, max attempts %d, time limit %s)",
        worker.worker_id,
        queue,
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
    logger.info("Task worker %s stopped after %d tasks", worker.worker_id, worker.tasks_run)
    return 0


def _watch_parent(parent: int) -> None:
    """A SIGKILLed parent (``hello-async`` serve) leaves no orphan: stop as on SIGTERM."""
    while os.getppid() == parent:
        time.sleep(0.5)
    logger.warning("Parent process %d is gone: stopping", parent)
    os.kill(os.getpid(), signal.SIGTERM)


def supervise(processes: int, *, queue: str) -> int:
    """Run ``processes`` single workers as children; restart one that dies; stop all on signal."""
    argv = [sys.executable, "-m", "hello_async.cli", "worker", "--queue", queue]
    # Sessions of their own: a terminal's Ctrl-C reaches only this process, which forwards it
    # once (a second signal would make a worker give its task back at once).
    children = [subprocess.Popen(argv, start_new_session=True) for _ in range(processes)]
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
                    children[i] = subprocess.Popen(argv, start_new_session=True)
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
    return 0


def _grace() -> float:
    """The children's shutdown grace, read without Django: this process never sets it up."""
    try:
        return float(os.environ.get("HELLO_ASYNC_TASK_SHUTDOWN_GRACE") or 30.0)
    except ValueError:
        return 30.0  # the workers themselves report the bad value
