"""The upstream (httpbin, as in the article): the one client that calls it, and its transports.

client.py              Upstream: the clients' lifetimes, deadlines, errors (aget / get)
clients.py             every HTTPX client of the upstream made alike: limits, no cookie jar
limits.py              what an upstream answer may be: head, body, one encoding
wire.py                an answer's heads, chunks and trailers counted on the raw bytes
transport.py           our HTTP/1.1 transport for HTTPX (asyncio + httptools)
aiohttp_transport.py   httpx-aiohttp's transport, with the same limits
sync_transport.py      the sync client's transport, bounded by the call's deadline
local.py               a local httpbin, so everything works offline
"""

from hello_async.upstream.client import Upstream, aget, get, get_upstream, set_upstream
from hello_async.upstream.errors import CALL_ERRORS, check_status, describe, translate

__all__ = [
    "CALL_ERRORS",
    "Upstream",
    "aget",
    "check_status",
    "describe",
    "get",
    "get_upstream",
    "set_upstream",
    "translate",
]
