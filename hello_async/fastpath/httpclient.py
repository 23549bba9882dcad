"""``httpx.AsyncClient`` without three per-call costs that a call without auth or cookies pays.

* **Cookies**: after every response HTTPX builds urllib request and response shims and hands them
  to the cookie jar, Set-Cookie header or not. :class:`SetCookieOnlyCookies` skips that when the
  response sets no cookie (``Set-Cookie``/``Set-Cookie2``, the only headers the jar reads).
* **Auth**: a call without auth still runs HTTPX's no-op ``Auth`` flow, an async generator per
  call. :class:`LeanAsyncClient` sends directly when the auth is that no-op ``httpx.Auth()``.
* **A reference cycle**: HTTPX wraps each response's stream in a ``BoundAsyncStream`` that points
  back at the response, so every response is garbage only the cyclic collector frees. An answer
  the transport handed over read (fork ``handover``) has nothing left to close: its stream is
  unwrapped, and reference counting frees it.

Each overrides a private HTTPX method with the same behaviour (pinned in
tests/pins.py); tests/fastpath/test_httpclient.py checks cookies are still set and
sent, auth applied and redirects followed.
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx._client import BoundAsyncStream

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
