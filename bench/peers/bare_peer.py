"""The floor of the `/` row: a bare ASGI callable under Uvicorn, no framework at all.

What Uvicorn, httptools and uvloop cost a request by themselves: no application served by
Uvicorn answers `/` for less (docs/performance.md, the `/` row beside django-bolt). Run from
the repo root:

    uvicorn bare_peer:app --app-dir bench/peers --loop uvloop --http httptools
"""

from __future__ import annotations

from typing import Any

BODY = b"Hello, async world!"
HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"19")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
