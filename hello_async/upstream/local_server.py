"""The local httpbin's own process: ``python -m hello_async.upstream.local_server``.

Run by :class:`hello_async.upstream.local.LocalUpstream` and imported by nothing: ``-m`` runs a
module that is not yet in ``sys.modules`` (else runpy warns that it was imported before it ran,
and the warning is the first line a newcomer sees). Serves the ``httpbin`` package's app with
Werkzeug's threaded server on a free port, prints ``LISTENING <url>`` once the socket is bound,
and exits when its parent is gone, so a SIGKILLed server leaves no orphan behind.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import time

from hello_async.upstream.local import MISSING_HTTPBIN, READY_PREFIX


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve httpbin on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent", type=int, default=0, help="exit when this process is gone")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("httpbin").setLevel(logging.ERROR)  # "flasgger is not installed"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
    try:
        from httpbin import app
    except ModuleNotFoundError:
        print(MISSING_HTTPBIN, file=sys.stderr)
        return 1
    from werkzeug.serving import make_server

    server = make_server(args.host, args.port, app, threaded=True)
    if args.parent:
        threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    print(f"{READY_PREFIX}http://{args.host}:{server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
