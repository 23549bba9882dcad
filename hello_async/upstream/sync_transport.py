"""The sync client's transport: httpx's, bounded by the call's deadline and the upstream's limits.

HTTPX's timeouts apply per socket operation, so a server dripping a byte a second never trips
them. Here every socket read and write gets only the time left until the call's total deadline
(the headers too, which no check between body chunks can bound), and the answer is read within
the limits (hello_async.upstream.limits) before it is handed over: h11 keeps at most 100 KiB of
an unfinished head, but httpcore reads interim answers one after another without a bound, so the
network stream reads no more of a head than it may take and counts every read as it comes
(hello_async.upstream.wire: the heads, a chunked body's pieces, its trailers); the body is
counted again as h11 hands it over.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterable, Iterator
from typing import Any, cast

import httpcore
import httpx

from hello_async.upstream.clients import default_ssl_context
from hello_async.upstream.limits import (
    BodyPieces,
    ResponseLimits,
    check_header_values,
    check_request_head,
    decode,
    read_response,
)
from hello_async.upstream.wire import WireCount


class _SyncCall:
    """When the current sync call must be over (``time.monotonic()``), and how many more bytes
    and lines its head may take: h11 bounds one unfinished head (100 KiB), but httpcore reads
    interim answers one after another without a bound."""

    __slots__ = ("deadline", "head_left", "limits", "wire")

    def __init__(self, deadline: float, limits: ResponseLimits) -> None:
        self.deadline = deadline
        self.limits = limits
        self.head_left: int | None = limits.max_header_bytes  # None once the head is in
        self.wire = WireCount(limits)


def _trace(event: str, info: dict[str, Any]) -> None:
    """httpcore's trace extension: the final answer's head is in (the body is counted after)."""
    if event == "http11.receive_response_headers.complete":
        call = _sync_call.get()
        if call is not None:
            call.head_left = None


# The current sync call; None outside Upstream.get.
_sync_call: contextvars.ContextVar[_SyncCall | None] = contextvars.ContextVar(
    "upstream_sync_call", default=None
)


def _time_left(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """The per-operation ``timeout``, shortened to what is left of the call's deadline."""
    call = _sync_call.get()
    if call is None:
        return timeout
    left = call.deadline - time.monotonic()
    if left <= 0:
        raise error("the call's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        call = _sync_call.get()
        if call is None or call.head_left is None:
            data = self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))
            if call is not None:
                call.wire.feed(data)  # a chunked body's pieces, its trailers
            return data
        # The head is not in yet: read no more than it may still take (and a byte to tell).
        if call.head_left < 0:
            raise call.limits.head_too_large()
        max_bytes = min(max_bytes, call.head_left + 1)
        data = self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))
        call.head_left -= len(data)
        call.wire.feed(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync sockets, each read and write bounded by the call's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _time_left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class SyncTransport(httpx.HTTPTransport):
    """httpx's sync transport on sockets bounded by the call's deadline (_DeadlineBackend),
    handing over answers read within the upstream's limits."""

    def __init__(self, limits: httpx.Limits, response_limits: ResponseLimits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self.response_limits = response_limits
        # httpx takes no network backend: swap its pool (private, set only in __init__) for one
        # with the same limits on ours; the code that sets and reads it is pinned in tests/pins.py.
        self._pool = httpcore.ConnectionPool(
            ssl_context=default_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        limits = self.response_limits
        method = request.method.encode("ascii", "replace")
        check_request_head(method, request.headers.raw)
        request.extensions = {**request.extensions, "trace": _trace}
        response = super().handle_request(request)
        stream = cast(httpx.SyncByteStream, response.stream)
        try:
            version = response.extensions.get("http_version", b"")
            coding = limits.check_head(response.status_code, version, response.headers.raw)
            check_header_values(response.headers.raw)  # h11 lets control characters by
            body = BodyPieces(limits)
            for chunk in stream:  # a piece per h11 event: a chunk, or a read
                body.add(chunk)
            content = decode(body.joined(), coding, limits)
        finally:
            stream.close()  # an unread answer's connection is closed, not pooled
        return read_response(
            response.status_code,
            response.headers.raw,
            content,
            coding=coding,
            extensions=response.extensions,
            request=request,
        )


@contextlib.contextmanager
def bounded_call(timeout: float, limits: ResponseLimits) -> Iterator[None]:
    """The sync calls made in this block run under one total deadline and the limits."""
    token = _sync_call.set(_SyncCall(time.monotonic() + timeout, limits))
    try:
        yield
    finally:
        _sync_call.reset(token)
