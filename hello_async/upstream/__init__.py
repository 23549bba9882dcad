"""The upstream (httpbin, as in the article): the one client that calls it, and its transports.

client.py              Upstream: the clients' lifetimes, deadlines, errors (aget / get)
limits.py              what an upstream answer may be: head, body, one encoding
transport.py           our HTTP/1.1 transport for HTTPX (asyncio + httptools)
aiohttp_transport.py   httpx-aiohttp's transport, with the same limits
local.py               a local httpbin, so everything works offline
"""

from hello_async.upstream.client import Upstream, aget, get, get_upstream, set_upstream
from hello_async.upstream.errors import check_status, describe, translate

__all__ = [
    "Upstream",
    "aget",
    "check_status",
    "describe",
    "get",
    "get_upstream",
    "set_upstream",
    "translate",
]
