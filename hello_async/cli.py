"""``hello-async``: run the project on its embedded defaults.

    hello-async [serve] [--host H] [--port P] [--reload] [--workers N]

``serve`` (the default command) starts a local httpbin as the upstream unless ``UPSTREAM_URL``
is set, applies migrations to the database (SQLite by default), prints the URL of each view and
serves ``hello_async.asgi:application`` with Uvicorn (on ``settings.SERVER_LOOP``: uvloop
accepting every waiting connection at once, hello_async.fastpath.accept), with one task worker
process beside it (``HELLO_ASYNC_SERVE_TASK_WORKERS``). Ctrl-C or SIGTERM stops the server (its
lifespan drains background work first), then the task worker (it finishes its task), then the
local httpbin.

    hello-async worker [--processes N]      task workers alone (see hello_async.work.worker)

In local mode (``DJANGO_ALLOWED_HOSTS`` unset) ``serve`` binds to loopback addresses only: that
mode trusts the Host header, so another address would give anyone who sends ``Host: localhost``
the lab, ``/compare/block/`` and an open ``/metrics``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from types import FrameType

from hello_async.web.loopback import is_loopback_address

# What the start-up banner lists, by URL name: each view's path from the URLconf, what it does
# from its docstring's first line.
BANNER = (
    "index",
    "async",
    "sync",
    "sync_to_async",
    "smoke_some_meats",
    "smoke_some_meats_live",
    "burn_some_meats",
    "smoke_runs",
    "smoke_orders:list",
    "smoke_orders:board",
    "lab",
    "console",
    "admin:index",
)
LAB_ONLY = frozenset({"lab", "console", "burn_some_meats"})  # listed only while the lab is on
NOT_OURS = {"admin:index": "Django admin (manage.py createsuperuser first)"}


def banner_views() -> list[tuple[str, str]]:
    """(path, what it does) of each view the banner lists."""
    from django.conf import settings
    from django.urls import resolve, reverse

    views = []
    for name in BANNER:
        if name in LAB_ONLY and not settings.HELLO_ASYNC_LAB:
            continue
        path = reverse(name)
        doc = (resolve(path).func.__doc__ or "").strip()
        views.append((path, NOT_OURS.get(name) or doc.splitlines()[0]))
    return views


# Commands with a module of their own: ``main(argv) -> int`` there gets the remaining arguments.
COMMAND_MODULES = {
    "bench": ("hello_async.bench.cli", "measure the article's claims side by side"),
    "worker": ("hello_async.work.worker", "run task workers on the database queue"),
}


class _Stop(Exception):
    """Raised by the SIGTERM handler once Uvicorn has shut down, to run our cleanup."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def build_parser() -> argparse.ArgumentParser:
    summary = __doc__.split("\n\n")[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="hello-async", description=summary)
    # serve is the default command: `hello-async --port 9000` is `hello-async serve --port 9000`,
    # so the top-level help shows its options too (main() always hands them to serve).
    defaults = parser.add_argument_group("serve's options (serve is the default command)")
    _add_serve_options(defaults.add_argument)
    commands = parser.add_subparsers(dest="command", title="commands")
    serve = commands.add_parser("serve", help="serve the project with Uvicorn (the default)")
    _add_serve_options(serve.add_argument)
    for name, (_, help_text) in COMMAND_MODULES.items():
        commands.add_parser(name, help=f"{help_text} (hello-async {name} --help)", add_help=False)
    return parser


def _add_serve_options(add: Callable[..., argparse.Action]) -> None:
    add("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    add("--port", type=int, default=8000, help="port (default: %(default)s)")
    add("--reload", action="store_true", help="restart when code changes")
    add("--workers", type=_positive_int, default=1, help="worker processes (default: 1)")


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} must be 1 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0].startswith("-") and args_list[0] not in ("-h", "--help"):
        args_list.insert(0, "serve")
    if args_list[0] in COMMAND_MODULES:
        try:
            module = importlib.import_module(COMMAND_MODULES[args_list[0]][0])
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.startswith("hello_async"):
                raise
            print(
                f"hello-async {args_list[0]}: {exc.name} is not installed. The bench's "
                "dependencies are a group of their own, left out of production installs: "
                "uv sync --group bench (uv run installs it by default).",
                file=sys.stderr,
            )
            return 2
        result: int = module.main(args_list[1:])
        return result
    args = build_parser().parse_args(args_list)
    if args.command == "serve":
        return serve(host=args.host, port=args.port, reload=args.reload, workers=args.workers)
    return 2  # pragma: no cover (argparse rejects unknown commands)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    host = host.strip().strip("[]").lower()
    return host == "localhost" or is_loopback_address(host)


def refuse_exposed_local_mode(host: str) -> str | None:
    """Why ``host`` may not be bound in this mode, or None: local mode serves loopback only."""
    from django.conf import settings

    if settings.PRODUCTION or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host} in local mode (DJANGO_ALLOWED_HOSTS unset, or DJANGO_DEBUG "
        "on), which trusts the Host header: anyone who can reach the address and sends "
        "'Host: localhost' gets the lab, "
        "/compare/block/ and an open /metrics. Bind to 127.0.0.1 (the default), or run in "
        "production mode: DJANGO_ALLOWED_HOSTS=<the names clients use> with DJANGO_SECRET_KEY "
        "set and DJANGO_DEBUG off (docs/production.md)."
    )


def serve(*, host: str, port: int, reload: bool, workers: int) -> int:
    import uvicorn
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from hello_async.upstream.local import LocalUpstream, LocalUpstreamError

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")
    try:
        refused = refuse_exposed_local_mode(host)
    except ImproperlyConfigured as exc:
        refused = f"configuration error: {exc}"
    if refused:
        print(f"hello-async: {refused}", file=sys.stderr)
        return 2
    local: LocalUpstream | None = None
    task_workers: list[subprocess.Popen[bytes]] = []
    metrics_dir: str | None = None
    previous_term = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        if not os.environ.get("UPSTREAM_URL", "").strip():
            local = LocalUpstream()
            try:
                # In the environment, so every worker process (and the reloader's) shares it;
                # and in the settings, which the check above has loaded already: else this
                # process's server would start an httpbin of its own beside this one.
                os.environ["UPSTREAM_URL"] = settings.UPSTREAM_URL = local.start()
            except LocalUpstreamError as exc:
                print(f"hello-async: {exc}", file=sys.stderr)
                return 1
        error = _setup_django()
        if error:
            print(f"hello-async: {error}", file=sys.stderr)
            return 2
        _print_banner(host, port, os.environ["UPSTREAM_URL"], local is not None)
        task_workers = _start_task_workers()
        metrics_dir = _share_metrics(workers=1 if reload else workers)
        uvicorn.run(
            "hello_async.asgi:application",
            host=host,
            port=port,
            reload=reload,
            workers=None if reload else workers,
            lifespan="on",
            loop=settings.SERVER_LOOP,
            timeout_graceful_shutdown=_grace_seconds(),
        )
        return 0
    except (_Stop, KeyboardInterrupt):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        _stop_task_workers(task_workers)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if local is not None:
            local.stop()
            os.environ.pop("UPSTREAM_URL", None)


def _share_metrics(*, workers: int) -> str | None:
    """Several web workers: a fresh directory for prometheus-client's multiprocess mode, in the
    environment before they start, so /metrics adds up every worker's figures whichever answers
    (hello_async.ops.metrics). Returns it, to be removed at exit; None with one worker, or when
    PROMETHEUS_MULTIPROC_DIR is set already (the caller's). The task workers, started before, do
    not serve /metrics and keep their own."""
    if workers < 2 or os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
        return None
    directory = tempfile.mkdtemp(prefix="hello-async-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _setup_django() -> str | None:
    """Load settings and apply migrations; returns an error message or None."""
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import call_command
    from django.db import DatabaseError

    try:
        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        _release_connections()
    except ImproperlyConfigured as exc:
        return f"configuration error: {exc}"
    except DatabaseError as exc:
        return f"database error while migrating: {exc}"
    return None


def _start_task_workers() -> list[subprocess.Popen[bytes]]:
    """HELLO_ASYNC_SERVE_TASK_WORKERS task workers beside the web server, whatever --workers is."""
    from django.conf import settings

    argv = [sys.executable, "-m", "hello_async.cli", "worker", "--parent", str(os.getpid())]
    # A session of its own: Ctrl-C reaches only us, and we stop the worker once, gracefully.
    count = settings.HELLO_ASYNC_SERVE_TASK_WORKERS
    return [subprocess.Popen(argv, start_new_session=True) for _ in range(count)]


def _stop_task_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    from django.conf import settings

    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=settings.HELLO_ASYNC_TASK_SHUTDOWN_GRACE + 5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _release_connections() -> None:
    """This process serves nothing itself: hand back migrate's connection, pool and all."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        if hasattr(conn, "close_pool"):  # PostgreSQL with a pool: its idle connections too
            conn.close_pool()


def _grace_seconds() -> int:
    from django.conf import settings

    return max(1, round(settings.HELLO_ASYNC_SHUTDOWN_GRACE))


def _print_banner(host: str, port: int, upstream_url: str, local: bool) -> None:
    shown_host = f"[{host}]" if ":" in host else host
    base = f"http://{shown_host}:{port}"
    source = "local httpbin" if local else "UPSTREAM_URL"
    lines = [f"hello_async: serving on {base}  (upstream: {upstream_url}, {source})"]
    lines += [f"  {base}{path:<22} {what}" for path, what in banner_views()]
    print("\n".join(lines), flush=True)


def entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry()
