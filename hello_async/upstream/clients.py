"""Every HTTPX client of the upstream is made here: our headers, no proxies from the environment,
a transport that holds the answer to the upstream's limits, and no cookie jar.

HTTPX's clients keep the cookies every answer sets and send them all back on every later call:
an upstream that sets new cookies on each answer grows every later call's ``Cookie`` header
without bound, long after it behaves again (the figures: docs/performance.md). A server's calls
to its upstream are not a browser's session: no state is carried from one call to the next.
Cookies given for one call (``client.get(..., cookies=...)``) are still sent with it.
"""

from __future__ import annotations

import functools
import http.cookiejar
import ssl
import urllib.request
from http.client import HTTPResponse

import httpx

from hello_async.upstream.limits import IDENTITY_HEADERS


class NoCookieJar(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing (as aiohttp's ``DummyCookieJar``)."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        pass

    def set_cookie_if_ok(
        self, cookie: http.cookiejar.Cookie, request: urllib.request.Request
    ) -> None:
        pass

    def extract_cookies(self, response: HTTPResponse, request: urllib.request.Request) -> None:
        pass


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """HTTPX's default context, made once per process and shared by every transport: making one
    loads the CA certificates, which a client made per call (or per connection) would do on
    the event loop each time."""
    return httpx.create_ssl_context(trust_env=False)


def new_async_client(
    transport: httpx.AsyncBaseTransport,
    *,
    base_url: str,
    timeout: httpx.Timeout,
    limits: httpx.Limits,
    client_class: type[httpx.AsyncClient] = httpx.AsyncClient,
) -> httpx.AsyncClient:
    """An async client on ``transport`` (one of the bounded transports of this package)."""
    client = client_class(
        base_url=base_url,
        headers=IDENTITY_HEADERS,
        timeout=timeout,
        limits=limits,
        transport=transport,
        trust_env=False,
    )
    # Set after construction: a client class may wrap the jar it was given in a copy.
    client.cookies = NoCookieJar()
    return client


def new_sync_client(
    transport: httpx.BaseTransport, *, base_url: str, timeout: httpx.Timeout
) -> httpx.Client:
    """A sync client on ``transport`` (hello_async.upstream.sync_transport's)."""
    client = httpx.Client(
        base_url=base_url,
        headers=IDENTITY_HEADERS,
        timeout=timeout,
        transport=transport,
        trust_env=False,
    )
    client.cookies = NoCookieJar()
    return client
