"""The upstream (httpbin, as in the article): the one client that calls it, and its transports.

client.py              Upstream: the clients' lifetimes, deadlines, errors (aget / get)
clients.py             every HTTPX client of the upstream made alike: limits, no cookie jar
errors.py              every failure of a call, as the project's errors (502 / 504)
limits.py              what an upstream answer may be: head, body, one encoding
wire.py                an answer's heads, chunks and trailers counted on the raw bytes
transport.py           our HTTP/1.1 transport for HTTPX (asyncio + httptools): the pool
connection.py          one connection of that transport: a request out, its answer parsed
aiohttp_transport.py   httpx-aiohttp's transport, with the same limits
sync_transport.py      the sync client's transport, bounded by the call's deadline
stats.py               what the calls took and how they failed, read by /metrics
local.py               a local httpbin, so everything works offline (started, stopped)
local_server.py        that httpbin's own process (python -m), imported by nothing
"""

from hello_async.upstream.client import Upstream, aget, get, get_upstream
from hello_async.upstream.errors import CALL_ERRORS, check_status, describe, translate

__all__ = [
    "CALL_ERRORS",
    "Upstream",
    "aget",
    "check_status",
    "describe",
    "get",
    "get_upstream",
    "translate",
]
