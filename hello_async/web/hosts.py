"""What ``CommonMiddleware`` does on every request, for the lean middleware chain: the Host header
checked against ``ALLOWED_HOSTS``, and ``Content-Length`` set on a response that has a body
in memory.

Django checks the Host header only when something calls ``request.get_host()``. In
``settings.MIDDLEWARE`` that is ``CommonMiddleware``, on every request. The fast path's lean chain
(hello_async.fastpath.chain) has no CommonMiddleware, so without this middleware a lean view
answered a request naming any host. Here ``get_host()`` raises ``DisallowedHost`` and the
handler turns it into Django's 400, with its ``django.security.DisallowedHost`` log line, as it
does on the full chain.

The lean views are the cheap ones, so the check is remembered: a ``Host`` header that
``get_host()`` accepted is accepted again without parsing it and matching it against every
pattern. That holds because ``get_host()``'s answer depends only on that header and the settings
(which do not change while a process serves), and only while ``USE_X_FORWARDED_HOST`` is off (the
host is then the ``Host`` header; otherwise every request goes to ``get_host()``). Only accepted
values are kept, at most :data:`REMEMBERED` of them, each no longer than a DNS name and a port:
with a wildcard in ``ALLOWED_HOSTS`` a stranger can fill the set, and the hosts past it are
checked in full each time.

Without ``Content-Length`` a lean view's answer went out chunked (Uvicorn frames a body of
unknown length so): more bytes, a body an HTTP/1.0 client cannot keep the connection open after,
and the full chain's answer to the same view not the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.http.response import ResponseHeaders

GetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]

REMEMBERED = 64
LONGEST = 253 + len(":65535")  # a DNS name, and a port


class AllowedHostsMiddleware:
    """``request.get_host()`` on each request, an accepted ``Host`` header remembered; then
    ``Content-Length`` on a response that is not streamed, as ``CommonMiddleware`` sets it."""

    sync_capable = False  # the lean chain is async only: no sync mode to test on each call
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.accepted: set[str] = set()
        self.remember = not settings.USE_X_FORWARDED_HOST
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        host = request.META.get("HTTP_HOST")
        if host not in self.accepted:
            request.get_host()  # DisallowedHost unless an allowed host is named
            accepted = self.accepted
            if (
                self.remember
                and isinstance(host, str)
                and len(host) <= LONGEST
                and len(accepted) < REMEMBERED
            ):
                accepted.add(host)
        response = await self.get_response(request)
        if response.streaming:
            return response
        # ``has_header()`` and ``headers[...] =``, on Django's header store (tests/pins.py): the
        # same entry, for a digits-only value, without validating what needs none.
        headers = response.headers
        if type(headers) is not ResponseHeaders:
            if not response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        elif "content-length" not in headers._store:
            headers._store["content-length"] = ("Content-Length", str(len(response.content)))  # type: ignore[attr-defined]
        return response
