"""Gunicorn with Uvicorn workers, metrics for the whole server (docs/deploy.md).

    PROMETHEUS_MULTIPROC_DIR=/run/hello-async/metrics \
        gunicorn hello_async.asgi:application -c deploy/gunicorn.conf.py

With several workers, each answers ``/metrics`` from prometheus-client's multiprocess mode: every
process writes its figures to files in ``PROMETHEUS_MULTIPROC_DIR`` (set in Gunicorn's own
environment, so the workers read it before they import the project), and the worker that answers
adds them all up. Its files are removed when Gunicorn starts (figures of an earlier run would
be added in), and a worker's live gauges (requests in flight, open streams) are dropped when it
exits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import uvicorn_worker
from prometheus_client import multiprocess

# The settings alone (no app registry): the master reads which loop the workers run on.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")
from django.conf import settings  # noqa: E402


class UvicornWorker(uvicorn_worker.UvicornWorker):
    """Uvicorn's Gunicorn worker on the project's event loop (``settings.SERVER_LOOP``: uvloop
    accepting every waiting connection at once unless the fast path is off)."""

    CONFIG_KWARGS = {**uvicorn_worker.UvicornWorker.CONFIG_KWARGS, "loop": settings.SERVER_LOOP}


wsgi_app = "hello_async.asgi:application"
worker_class = UvicornWorker
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
bind = os.environ.get("BIND", "127.0.0.1:8000")
# A second or two above HELLO_ASYNC_SHUTDOWN_GRACE (10 s): UvicornWorker lets requests run until
# Gunicorn kills the worker, so requests that end within the grace still leave the drain its
# time (docs/production.md#systemd). A supervisor's stop timeout goes above this.
graceful_timeout = 12


def on_starting(server: Any) -> None:
    """Before any worker: a fresh, empty directory for the workers' figures."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not directory:
        server.log.warning("PROMETHEUS_MULTIPROC_DIR unset: each worker answers for itself")
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    for stale in Path(directory).glob("*.db"):  # only prometheus-client's files
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A worker has exited: its requests in flight and open streams are no longer anyone's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
