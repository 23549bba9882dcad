"""Limits on a request's shape, enforced before Django reads it: body size, query-string text.

Django's ASGIHandler reads the *whole* body into a spooled temporary file (memory, then disk)
before any middleware or view runs, so ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only bites after the
bytes have been received and stored. This wrapper sits between Uvicorn and Django:

* A declared ``Content-Length`` above ``HELLO_ASYNC_MAX_BODY_BYTES`` gets a 413 at once; Django
  is never called and the body is never read (Uvicorn stops reading the socket once its small
  buffer is full, and closes the connection after the 413 because of ``Connection: close``).
* A body without ``Content-Length`` (chunked) is counted as it streams through ``receive``.
  An HTTP/1.x request with neither (no body) or with an accepted ``Content-Length`` cannot
  cross the limit, so it goes to Django unwrapped.
  The message that crosses the limit is *not* passed on: Django is told the client
  disconnected instead, so it drops what it spooled and returns without running a view (no
  partial body reaches a view), and the wrapper then answers 413 itself.

A query string that is not UTF-8 (raw bytes such as ``?\x80``, which Uvicorn passes on) makes
Django's request constructor fail with a bare, empty 400; here it gets a 400 that says why.
"""

from __future__ import annotations

import logging

from django.conf import settings

from hello_async.web.asgi_types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int | None = None) -> None:
        self.app = app
        self._max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        if self._max_bytes is not None:
            return self._max_bytes
        return int(settings.HELLO_ASYNC_MAX_BODY_BYTES)

    def passes(self, scope: Scope) -> bool:
        """Whether this HTTP request is one the wrapper would hand on untouched: a UTF-8 query,
        an HTTP/1.x body declared within the limit or absent (hello_async.ops.door asks)."""
        if not _is_utf8(scope.get("query_string", b"")):
            return False
        declared, chunked = _framing(scope)
        if chunked or scope.get("http_version", "1.1") not in _HTTP1:
            return False
        return declared is None or 0 <= declared <= self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.passes(scope):
            # HTTP/1.x without Transfer-Encoding: the body is Content-Length bytes (within the
            # limit) or none at all, so it cannot cross the limit as it streams: nothing to
            # count, and no wrapped receive and send on every request.
            await self.app(scope, receive, send)
            return
        if not _is_utf8(scope.get("query_string", b"")):
            await _send_text(send, 400, "The query string is not valid UTF-8.")
            return
        limit = self.max_bytes
        declared, chunked = _framing(scope)
        if declared == -1:
            await _send_text(send, 400, "Content-Length must be a single whole number of bytes.")
            return
        if declared is not None and declared > limit:
            _log(scope, f"Content-Length {declared}", limit)
            await _send_text(send, 413, _too_large(limit))
            return

        received = 0
        too_large = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if too_large and not response_started:
            _log(scope, f"more than {limit} streamed bytes", limit)
            await _send_text(send, 413, _too_large(limit))


_HTTP1 = frozenset({"1.0", "1.1"})


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared body length (None when absent, -1 when unusable) and whether the request
    has a Transfer-Encoding (a chunked body, whose length nothing declares)."""
    values = []
    chunked = False
    for name, value in scope.get("headers", ()):
        name = name.lower()
        if name == b"content-length":
            values.append(value)
        elif name == b"transfer-encoding":
            chunked = True
    if not values:
        return None, chunked
    if len(set(values)) != 1 or not values[0].strip().isdigit():
        return -1, chunked
    return int(values[0]), chunked


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def _too_large(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes."


def _log(scope: Scope, what: str, limit: int) -> None:
    logger.info(
        "%s %s -> 413: %s over the %d-byte limit",
        scope.get("method"),
        scope.get("path"),
        what,
        limit,
    )


async def _send_text(send: Send, status: int, line: str) -> None:
    body = f"{line}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                # The client may still be sending the body we refused: end the connection
                # after this answer rather than read and discard the rest.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
