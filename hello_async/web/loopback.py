"""Local mode answers loopback clients only.

Local mode (``DJANGO_ALLOWED_HOSTS`` unset, or ``DJANGO_DEBUG`` on) serves the lab,
``/compare/block/`` and an open ``/metrics``, and its ``ALLOWED_HOSTS`` are the loopback names,
which any client can send as its ``Host`` header. ``hello-async`` refuses to bind a non-loopback
address in that mode; a server started another way (the seed's ``uvicorn
hello_async.asgi:application --host 0.0.0.0``, a container's published port) is not asked.
:class:`LoopbackOnlyMiddleware`, one of the door's gates in local mode only (hello_async.asgi,
hello_async.ops.door), answers a request from any other address with a 403 naming
``DJANGO_ALLOWED_HOSTS`` before anything else runs.

The address is ``scope["client"]``: the peer, or what Uvicorn's proxy headers made of it (it
trusts ``X-Forwarded-For`` from 127.0.0.1 only, so a client cannot claim loopback that way). A
connection without one (a Unix socket, an application called in process) is local: allowed.
"""

from __future__ import annotations

import ipaddress
import logging

from hello_async.web.asgi_types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

REFUSED = (
    b"This server is in local mode and answers loopback clients only: to serve other "
    b"addresses, set DJANGO_ALLOWED_HOSTS to the names clients use (docs/production.md).\n"
)

_LOOPBACK = frozenset({"127.0.0.1", "::1"})  # what a loopback client almost always is


def is_loopback_address(host: str) -> bool:
    """Whether ``host`` is a loopback IP address (127.0.0.0/8, ::1, or v4-mapped 127.x)."""
    if host in _LOOPBACK:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # not an address at all
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class LoopbackOnlyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.warned = False

    def passes(self, scope: Scope) -> bool:
        """Whether the request comes from a loopback client, or from no address at all."""
        client = scope.get("client")
        return client is None or is_loopback_address(client[0])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or self.passes(scope):
            await self.app(scope, receive, send)
            return
        client = scope["client"]
        if not self.warned:  # once: a stranger's requests must not fill the log
            self.warned = True
            logger.warning(
                "local mode: refused a request from %s (and will refuse every non-loopback "
                "client without logging it); set DJANGO_ALLOWED_HOSTS to serve other addresses",
                client[0],
            )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: a 403
            return
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(REFUSED)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": REFUSED})
