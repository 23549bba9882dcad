"""The servers the bench starts: ours (in either mode, or from another checkout) and its peers."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--host", "127.0.0.1"]
# The loop the project's servers run on (settings.SERVER_LOOP); the peers run on uvloop, as
# their users get it from Uvicorn.
ACCEPT_ALL = "hello_async.fastpath.accept:AcceptAllLoop"
# Quiet (the default rows): warnings only, no access log. Info: what a user gets by default,
# the article's lines at INFO and Uvicorn's access log, on both sides.
LOGGING_FLAGS = {
    "warning": ["--no-access-log", "--log-level", "warning"],
    "info": ["--log-level", "info"],
}
LOG_LEVELS = {"warning": "WARNING", "info": "INFO"}


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server under test; ``{port}`` in ``argv`` is filled in at start."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None  # another checkout of the project (the bench's --baseline)

    def command(self, port: int) -> list[str]:
        return [arg.replace("{port}", str(port)) for arg in self.argv]


def django_env(concurrency: int, fan_out: int, logging: str = "warning") -> dict[str, str]:
    """Production-like settings: DEBUG off, no demo waits, a pool sized for the load (every
    concurrent request may hold ``fan_out`` upstream connections), the compare endpoints on."""
    return {
        "DJANGO_SETTINGS_MODULE": "hello_async.settings",
        "DJANGO_DEBUG": "0",
        "HELLO_ASYNC_TIME_SCALE": "0",
        "HELLO_ASYNC_LOG_LEVEL": LOG_LEVELS[logging],
        "HELLO_ASYNC_LAB": "1",
        "UPSTREAM_MAX_CONNECTIONS": str(max(100, concurrency * max(1, fan_out))),
    }


def uvicorn_django(
    concurrency: int,
    fan_out: int,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    logging: str = "warning",
) -> ServerSpec:
    """The project under Uvicorn; ``env`` on top of :func:`django_env`; ``cwd`` another checkout;
    ``logging`` quiet (``warning``) or as a user gets it (``info``, with the access log)."""
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "uvicorn",
        "hello_async.asgi:application",
        "--port",
        "{port}",
    )
    spec = ServerSpec(
        "Uvicorn, 1 worker",
        (*argv, *UVICORN_FLAGS, *LOGGING_FLAGS[logging]),
        {**django_env(concurrency, fan_out, logging), **(env or {})},
        cwd,
    )
    # As hello-async serves it (settings.SERVER_LOOP); a checkout from before that loop on uvloop,
    # as it ran.
    switched_off = spec.env.get("HELLO_ASYNC_FASTPATH") == "0" or "accept" in spec.env.get(
        "HELLO_ASYNC_FASTPATH_OFF", ""
    ).split(",")
    has_loop = (cwd or Path(__file__).resolve().parents[2]) / "hello_async/fastpath/accept.py"
    if switched_off or not has_loop.exists():
        return spec
    return with_loop(spec, ACCEPT_ALL, name=False)


def uvicorn_stock_django(concurrency: int, fan_out: int) -> ServerSpec:
    """The same project on Django's own handler, middleware and client: no fast path."""
    return uvicorn_django(concurrency, fan_out, env={"HELLO_ASYNC_FASTPATH": "0"})


def gunicorn_sync(concurrency: int) -> ServerSpec:
    # The Gunicorn docs' rule of thumb, 2 x CPUs + 1, for the one CPU the server gets.
    workers = 3
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "gunicorn",
        "hello_async.wsgi:application",
        "-k",
        "sync",
    )
    argv += ("-w", str(workers), "-b", "127.0.0.1:{port}", "--log-level", "warning")
    return ServerSpec(f"Gunicorn WSGI, {workers} sync workers", argv, django_env(concurrency, 1))


def gunicorn_gthread(concurrency: int) -> ServerSpec:
    workers = 2
    threads = math.ceil(concurrency / workers)  # sized so every client has a thread
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "gunicorn",
        "hello_async.wsgi:application",
        "-k",
        "gthread",
    )
    argv += ("-w", str(workers), "--threads", str(threads), "-b", "127.0.0.1:{port}")
    argv += ("--log-level", "warning")
    name = f"Gunicorn WSGI, gthread {workers} x {threads}"
    return ServerSpec(name, argv, django_env(concurrency, 1))


def fastapi_peer(concurrency: int, logging: str = "warning") -> ServerSpec:
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "uvicorn",
        "fastapi_peer:app",
        "--app-dir",
        "bench/peers",
    )
    argv += ("--port", "{port}", *UVICORN_FLAGS, *LOGGING_FLAGS[logging])
    env = {
        "UPSTREAM_MAX_CONNECTIONS": str(max(100, 2 * concurrency)),
        "HELLO_ASYNC_LOG_LEVEL": LOG_LEVELS[logging],
    }
    return ServerSpec("Uvicorn, 1 worker", argv, env)


def bare_peer() -> ServerSpec:
    """A bare ASGI callable under Uvicorn (``bench/peers/bare_peer.py``): what Uvicorn costs
    `/` by itself, the floor of any application it serves."""
    argv: tuple[str, ...] = (sys.executable, "-m", "uvicorn", "bare_peer:app")
    argv += ("--app-dir", "bench/peers", "--port", "{port}", *UVICORN_FLAGS)
    return ServerSpec("Uvicorn, 1 worker", (*argv, *LOGGING_FLAGS["warning"]))


def bolt_peer(concurrency: int) -> ServerSpec:
    """django-bolt doing the same fan-out (``bench/peers/bolt_peer.py``): one process, one Actix
    worker thread that also runs the Python handlers, the same pool size as the FastAPI peer,
    no per-request logging (as the quiet rows run ours)."""
    argv = (sys.executable, "bench/peers/bolt_peer.py", "--port", "{port}")
    env = {"UPSTREAM_MAX_CONNECTIONS": str(max(100, 2 * concurrency))}
    return ServerSpec("django-bolt, 1 worker", argv, env)


def with_loop(spec: ServerSpec, loop: str, *, name: bool = True) -> ServerSpec:
    """``spec`` (a Uvicorn server) on another event loop: ``uvloop``, ``asyncio``, or a loop
    factory by name such as :data:`ACCEPT_ALL` (the tail scenario); ``name``: say so in its name."""
    argv = list(spec.argv)
    argv[argv.index("--loop") + 1] = loop
    label = f"{spec.name}, loop {loop.rpartition(':')[2]}" if name else spec.name
    return ServerSpec(label, tuple(argv), spec.env, spec.cwd)


def sse_peer(concurrency: int, fan_out: int) -> ServerSpec:
    """Starlette + sse-starlette streaming the same work as /smoke_some_meats/live/, with the
    article's waits and the same pool size as ours (:func:`live_env`)."""
    argv: tuple[str, ...] = (
        sys.executable,
        "-m",
        "uvicorn",
        "sse_peer:app",
        "--app-dir",
        "bench/peers",
    )
    argv += ("--port", "{port}", *UVICORN_FLAGS, *LOGGING_FLAGS["warning"])
    env = live_env(concurrency, fan_out)
    return ServerSpec("Uvicorn, 1 worker", argv, env)


def live_env(concurrency: int, fan_out: int) -> dict[str, str]:
    """The live row's settings, on both sides: the article's waits (each stream lasts about 2 s),
    a pool for every stream's calls, and (ours) room for every subscriber."""
    return {
        "HELLO_ASYNC_TIME_SCALE": "1",
        "UPSTREAM_MAX_CONNECTIONS": str(max(100, concurrency * max(1, fan_out))),
        "HELLO_ASYNC_SSE_MAX_SUBSCRIBERS": str(concurrency + concurrency // 10),
    }
