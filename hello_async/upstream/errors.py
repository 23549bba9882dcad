"""Every failure of an upstream call, as the project's errors (hello_async.errors).

The transports raise HTTPX's exceptions, ``from`` the socket's or aiohttp's: a refusal is a
``ConnectError`` caused by ``ConnectionRefusedError``; a broken limit a ``ResponseRefused``.
httpx-aiohttp maps every aiohttp connection error, a reset included, to ``ConnectTimeout``, so
with that transport the original aiohttp error decides what really happened.
"""

from __future__ import annotations

import aiohttp
import httpx

from hello_async.errors import (
    UpstreamBadResponse,
    UpstreamBadStatus,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hello_async.upstream.limits import RequestRefused, ResponseRefused

# What a call raises on any of the transports: HTTPX's errors, and the aiohttp errors that
# httpx-aiohttp does not map (a malformed answer arrives raw).
CALL_ERRORS = (httpx.HTTPError, aiohttp.ClientError)


def check_status(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise UpstreamBadStatus(
            f"Upstream answered {response.status_code} {response.reason_phrase} "
            f"for {response.request.url}",
            upstream_status=response.status_code,
        )
    return response


def translate(exc: httpx.HTTPError | aiohttp.ClientError, *, url: str) -> UpstreamError:
    """Map an HTTPX error (from either transport) to the project's upstream errors."""
    cause: BaseException = exc.__cause__ or exc
    # httpx-aiohttp maps every aiohttp ClientConnectionError (a reset included) to
    # ConnectTimeout, so the original aiohttp error decides what really happened. The sync
    # transport's timeouts arrive as httpx timeouts caused by httpcore's (not TimeoutError).
    is_timeout = isinstance(cause, TimeoutError) or (
        isinstance(exc, httpx.TimeoutException) and not isinstance(cause, aiohttp.ClientError)
    )
    if is_timeout:
        return UpstreamTimeout(f"Upstream timed out: {url} ({describe(cause)})")
    if isinstance(exc, RequestRefused):
        return UpstreamUnavailable(f"Upstream request not sent: {url} ({exc})")
    if isinstance(exc, ResponseRefused):
        return UpstreamBadResponse(f"Upstream answer refused: {url} ({exc})")
    if isinstance(exc, httpx.ProtocolError) or isinstance(cause, _AIOHTTP_BAD_ANSWER):
        # The answer did not parse (aiohttp: a line or a header count over its limits too).
        return UpstreamBadResponse(f"Upstream sent a bad answer: {url} ({describe(cause)})")
    if isinstance(exc, httpx.ConnectError) or _is_refused(cause):
        return UpstreamUnavailable(f"Upstream refused the connection: {url} ({describe(cause)})")
    return UpstreamUnavailable(f"Upstream connection failed: {url} ({describe(cause)})")


_AIOHTTP_BAD_ANSWER = (aiohttp.ClientResponseError, aiohttp.http_exceptions.HttpProcessingError)


def _is_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_kind(exc: UpstreamError) -> str:
    """The kind an error is counted under: timeout, unavailable, bad_status, bad_response."""
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamBadStatus):
        return "bad_status"
    if isinstance(exc, UpstreamBadResponse):
        return "bad_response"
    return "unavailable"
