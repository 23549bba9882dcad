"""``httpx.AsyncClient`` without three per-call costs that a call without auth or cookies pays.

The upstream client (hello_async.upstream) makes two calls per fan-out request, so the client
layer's own CPU counts. Two pieces of it do nothing for our calls, yet cost about 30 us of the
~145 us a call takes (CPU per call at 100 concurrent, docs/performance.md); a third leaves work
for the garbage collector:

* **Cookies**: after every response HTTPX builds urllib request and response shims and hands them
  to the cookie jar, Set-Cookie header or not. :class:`SetCookieOnlyCookies` skips that when the
  response has no ``Set-Cookie``/``Set-Cookie2`` header, the only ones the jar reads.
* **Auth**: a call without auth still runs HTTPX's no-op ``Auth`` flow, an async generator
  created, advanced and closed per call. :class:`LeanAsyncClient` sends directly when the auth
  is that no-op ``httpx.Auth()``; any real auth takes HTTPX's own path.
* **A reference cycle**: HTTPX wraps every response's stream in a ``BoundAsyncStream`` that
  points back at the response (to set ``elapsed`` when it closes), so every response, with its
  request, URL and headers (about 20 objects), is garbage only the cyclic collector can free. A
  response our transport hands over already read (hello_async.upstream.transport) has nothing
  left to close and its ``elapsed`` set: :class:`LeanAsyncClient` unwraps its stream, and reference
  counting frees it when the caller drops it (docs/performance.md, "The garbage collector").

All three override private HTTPX methods with the same behaviour; tests/fastpath/test_httpclient.py
pins the
source of the HTTPX code they stand in for (sha256), so an HTTPX upgrade that changes it fails
the suite until this module is reviewed, and checks the behaviour (cookies still set and sent,
auth still applied, redirects still followed).
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx._client import BoundAsyncStream

# sha256 of inspect.getsource() of the HTTPX code this module stands in for (httpx 0.28.1).
PINNED_SHA256 = {
    "httpx.Cookies.extract_cookies": (
        "ed8dc7a9b42d238ecfb699a28bd0eae43d29d3487e732bf47c267532e3ea6828"
    ),
    "httpx.AsyncClient._send_handling_auth": (
        "73be9fe146881fca02e9712d9a9b37605933ecc13d949d90cd17b5022ac78f38"
    ),
    "httpx.Auth.async_auth_flow": (
        "952b06129f88f7b39f045b1786aa3f74ee7654d628d8f0931d9bbf2b259c937a"
    ),
    "httpx.Auth.auth_flow": "3db15d53236c51822dd07e3b30ae777e96108728a14dcf1cf0a52b3c652a28bc",
    "httpx.AsyncClient._send_single_request": (
        "339c8a224990002fade9ba9852db8636799edfbc2d444b8e6c08421b421e41fb"
    ),
    "httpx._client.BoundAsyncStream": (
        "8cd576810ca14e19bf648ca96458dbb0cedd558f0ed7f5b8ba26f0011ab82998"
    ),
}

_COOKIE_HEADERS = ("set-cookie", "set-cookie2")


class SetCookieOnlyCookies(httpx.Cookies):
    """``httpx.Cookies`` that consults the jar only for responses that set cookies."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if any(name in headers for name in _COOKIE_HEADERS):
            super().extract_cookies(response)


class LeanAsyncClient(httpx.AsyncClient):
    """``httpx.AsyncClient``, same API and behaviour, minus the per-call costs above."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = SetCookieOnlyCookies(self._cookies)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._cookies = SetCookieOnlyCookies(cookies)

    async def _send_handling_auth(
        self,
        request: httpx.Request,
        auth: httpx.Auth,
        follow_redirects: bool,
        history: list[httpx.Response],
    ) -> httpx.Response:
        if type(auth) is httpx.Auth:
            # The no-op flow yields the request once and ends at its response: send it.
            return await self._send_handling_redirects(
                request, follow_redirects=follow_redirects, history=history
            )
        return await super()._send_handling_auth(request, auth, follow_redirects, history)

    async def _send_single_request(self, request: httpx.Request) -> httpx.Response:
        response = await super()._send_single_request(request)
        stream = response.stream
        if (
            type(stream) is BoundAsyncStream
            and type(stream._stream) is httpx.ByteStream
            and hasattr(response, "_content")
            and hasattr(response, "_elapsed")
        ):
            # Read, timed, nothing to close: drop the wrapper that points back at the response.
            response.stream = stream._stream
        return response
