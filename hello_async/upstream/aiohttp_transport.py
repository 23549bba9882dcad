"""httpx-aiohttp's transport (``UPSTREAM_TRANSPORT=aiohttp``) with the upstream's limits.

aiohttp bounds each header line (``max_line_size``, ``max_field_size``) and their number
(``max_headers``) while it parses; the session here sets those from :class:`ResponseLimits`,
and every read is counted before aiohttp parses it (hello_async.upstream.wire). The rest is
checked once the head is in (hello_async.upstream.limits): status, version, one content
encoding; the body is read here, counted as it arrives, and
decoded in bounded steps, so the response reaches HTTPX read and HTTPX's own decoders never run.
"""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
from aiohttp.client_proto import ResponseHandler
from aiohttp.streams import StreamReader
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream

from hello_async.upstream.clients import default_ssl_context
from hello_async.upstream.limits import (
    BodyPieces,
    ResponseLimits,
    ResponseRefused,
    adecode,
    check_header_values,
    check_request_head,
    read_response,
)
from hello_async.upstream.wire import WireCount


class _BoundedHandler(ResponseHandler):
    """aiohttp's protocol with what its parser leaves unbounded, refused as it is read.

    aiohttp bounds each header line and each head's header count, but reads interim (1xx)
    answers one after another without end, and parses a read of tiny chunks whole (a Python
    call per chunk). Here every read is fed in slices, each counted before the parser sees it
    (hello_async.upstream.wire): the heads, interim answers included, within
    ``max_header_bytes`` and ``max_headers`` lines; a chunked body within ``max_body_chunks``
    pieces; trailers counted with the head.
    """

    SLICE = 16 * 1024
    HEAD_SLICE = 1024

    def __init__(self, loop: asyncio.AbstractEventLoop, *, limits: ResponseLimits) -> None:
        super().__init__(loop)
        self._limits = limits
        self._start()

    def _start(self, *, head_only: bool = False) -> None:
        self.refused: ResponseRefused | None = None
        self._wire = WireCount(self._limits, head_only=head_only)
        self._body: StreamReader | None = None

    def set_response_params(self, **params: Any) -> None:  # once per request
        self._start(head_only=bool(params.get("skip_payload")))
        super().set_response_params(**params)

    def feed_data(self, data: Any, size: int = 0) -> None:  # a parsed head, and its payload
        message, payload = data
        if not 100 <= message.code < 200:
            self._body = payload
        super().feed_data(data, size)

    def data_received(self, data: bytes) -> None:
        wire = self._wire
        start = 0
        while start < len(data):
            # Small slices until the head is in: each interim answer parsed is Python objects.
            size = self.SLICE if wire.head_done else self.HEAD_SLICE
            piece = data[start : start + size]
            start += size
            try:
                wire.feed(piece)
            except ResponseRefused as refused:
                self._refuse(refused)
                return
            super().data_received(piece)

    def _refuse(self, refused: ResponseRefused) -> None:
        self.refused = refused
        if self._body is not None:
            self._body.set_exception(refused)
        self.set_exception(refused)
        if self.transport is not None:
            self.transport.close()


class _BoundedConnector(aiohttp.TCPConnector):
    def __init__(self, *, limits: ResponseLimits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # aiohttp takes no protocol class: swap its protocol factory (private, set in
        # BaseConnector.__init__; pinned with the code that calls it in tests/pins.py).
        assert hasattr(self, "_factory")
        self._factory = functools.partial(  # type: ignore[assignment]
            _BoundedHandler, loop=asyncio.get_running_loop(), limits=limits
        )


class BoundedAiohttpTransport(AiohttpTransport):
    def __init__(self, *, limits: httpx.Limits, response_limits: ResponseLimits) -> None:
        self.response_limits = response_limits
        line = min(response_limits.max_header_bytes, 65_536)

        def session() -> aiohttp.ClientSession:
            connector = _BoundedConnector(
                limits=response_limits,
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry,
                ssl=self.ssl_context,
            )
            return aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # no state from one call to the next
                trust_env=False,
                max_line_size=line,
                max_field_size=line,
                max_headers=response_limits.max_headers,
            )

        super().__init__(
            limits=limits, trust_env=False, client=session, verify=default_ssl_context()
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_request_head(request.method.encode("ascii", "replace"), request.headers.raw)
        started = time.perf_counter()
        response = await super().handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, AiohttpResponseStream)
        aiohttp_response = stream._aiohttp_response  # private; pinned in tests/pins.py
        connection = aiohttp_response.connection
        handler = connection.protocol if connection is not None else None
        limits = self.response_limits
        try:
            version = aiohttp_response.version
            http_version = f"HTTP/{version.major}.{version.minor}".encode() if version else b""
            coding = limits.check_head(response.status_code, http_version, response.headers.raw)
            check_header_values(response.headers.raw)  # aiohttp lets control characters by
            body = BodyPieces(limits)
            async for chunk in stream:
                body.add(chunk)
            content = await adecode(body.joined(), coding, limits)
        except httpx.ReadError as exc:
            aiohttp_response.close()
            refused = getattr(handler, "refused", None)
            if refused is not None:  # the connection closed on our refusal
                raise refused from exc
            raise
        except BaseException:
            aiohttp_response.close()  # not back to the pool: its framing is not to be trusted
            raise
        await stream.aclose()
        read = read_response(
            response.status_code,
            response.headers.raw,
            content,
            coding=coding,
            extensions={**response.extensions, "http_version": http_version},
            request=request,
        )
        read.elapsed = timedelta(seconds=time.perf_counter() - started)
        return read
