"""What the upstream may send back: a bounded head, a bounded body, one content encoding.

Every client of the upstream applies these, so the limits hold on every path: each transport
counts the raw bytes of every read before its parser holds them (hello_async.upstream.wire),
and checks the head once it is in and the body as it arrives (hello_async.upstream.transport,
hello_async.upstream.aiohttp_transport, hello_async.upstream.sync_transport).

* **Head**: at most ``max_header_bytes`` (status line and headers, interim 1xx answers
  included, trailers added) and ``max_headers`` header lines (each interim status line one
  more), as Envoy (60 KiB, 100 headers) and nginx ("upstream sent too big header") refuse more.
* **Status and version**: a status outside 100-599 or a version other than HTTP/1.0 and 1.1 is
  not an answer.
* **Body**: at most ``max_body_bytes`` as it arrives, and again once decoded; in at most
  ``max_body_chunks`` pieces (a chunk, or a read), since each piece costs a parser's turn
  (h11's, in Python, for the sync client).
* **Encoding**: we ask for ``Accept-Encoding: identity``; an upstream that compresses anyway may
  use one coding (gzip or deflate), decoded in steps of :data:`STEP` bytes, the async decoder
  yielding to the loop between steps. Stacked codings (``gzip, gzip``) and unknown ones are
  refused before the body is read: HTTPX would decode any number of them in one call, and a few
  KiB of doubly gzipped zeros expand to gigabytes.

Past a limit the call fails at once with :class:`ResponseRefused` (an ``httpx`` protocol error
naming the limit and its setting) and the connection is closed; the upstream client turns it
into a 502.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

STEP = 64 * 1024  # decoded bytes per step
IDENTITY_HEADERS = {"Accept-Encoding": "identity"}
_VERSIONS = frozenset({b"HTTP/1.0", b"HTTP/1.1"})
# zlib's wbits per coding: gzip's header, or zlib's (deflate as RFC 9110 means it).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class ResponseRefused(httpx.RemoteProtocolError):
    """The upstream's response broke a limit or the protocol; the message says which."""


class RequestRefused(httpx.LocalProtocolError):
    """A request that may not go on the wire (a method or header with control characters)."""


@dataclass(frozen=True)
class ResponseLimits:
    max_header_bytes: int = 65_536
    max_headers: int = 100
    max_body_bytes: int = 262_144
    max_body_chunks: int = 1024

    @classmethod
    def from_settings(cls) -> ResponseLimits:
        from django.conf import settings

        return cls(
            max_header_bytes=settings.UPSTREAM_MAX_HEADER_BYTES,
            max_headers=settings.UPSTREAM_MAX_HEADERS,
            max_body_bytes=settings.UPSTREAM_MAX_BODY_BYTES,
            max_body_chunks=settings.UPSTREAM_MAX_BODY_CHUNKS,
        )

    # --- the refusals, one message each ------------------------------------------------------

    def head_too_large(self, what: str = "head") -> ResponseRefused:
        return ResponseRefused(
            f"response {what} over {self.max_header_bytes} bytes (UPSTREAM_MAX_HEADER_BYTES)"
        )

    def too_many_headers(self, included: str = "interim answers") -> ResponseRefused:
        return ResponseRefused(
            f"more than {self.max_headers} header lines, {included} included (UPSTREAM_MAX_HEADERS)"
        )

    def too_many_chunks(self) -> ResponseRefused:
        return ResponseRefused(
            f"response body in more than {self.max_body_chunks} pieces (UPSTREAM_MAX_BODY_CHUNKS)"
        )

    def body_too_large(self, what: str = "body") -> ResponseRefused:
        return ResponseRefused(
            f"response {what} over {self.max_body_bytes} bytes (UPSTREAM_MAX_BODY_BYTES)"
        )

    # --- checks --------------------------------------------------------------------------------

    def check_head(
        self, status: int, http_version: bytes, headers: Iterable[tuple[bytes, bytes]]
    ) -> str | None:
        """Refuse a final response's head that breaks a limit; returns its content coding
        (None for identity) or raises :class:`ResponseRefused`."""
        check_status(status, http_version)
        if status < 200:
            raise ResponseRefused(f"an interim status ({status}) where the final answer was due")
        count = size = 0
        codings: list[bytes] = []
        length: bytes | None = None
        for name, value in headers:
            count += 1
            size += len(name) + len(value) + 4  # ": " and CRLF
            lowered = name.lower()
            if lowered == b"content-encoding":
                codings += value.split(b",")
            elif lowered == b"content-length":
                length = value
        if count > self.max_headers:
            raise self.too_many_headers()
        if size > self.max_header_bytes:
            raise self.head_too_large()
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            raise self.body_too_large("body (as declared)")
        return content_coding(codings)


def check_status(status: int, http_version: bytes) -> None:
    if not 100 <= status <= 599:
        raise ResponseRefused(f"status {status:03d} is outside 100-599")
    if http_version not in _VERSIONS:
        raise ResponseRefused(f"unsupported HTTP version {http_version.decode(errors='replace')}")


def content_coding(codings: Iterable[bytes]) -> str | None:
    """The one coding to decode (None: identity); refuses stacked and unknown codings."""
    named = [c.strip().lower().decode("latin-1") for c in codings]
    named = [c for c in named if c and c != "identity"]
    if len(named) > 1:
        raise ResponseRefused(f"more than one content encoding ({', '.join(named)})")
    if named and named[0] not in _WBITS:
        raise ResponseRefused(f"unsupported content encoding {named[0]!r}")
    return named[0] if named else None


# --- decoding in bounded steps -------------------------------------------------------------------


def _decode_steps(raw: bytes, coding: str, limits: ResponseLimits) -> Iterator[bytes]:
    """The decoded body in pieces of at most :data:`STEP` bytes; refused past the limit."""
    decoder = zlib.decompressobj(_WBITS[coding])
    if coding == "deflate" and raw[:1] and (raw[0] & 0x0F != 8 or int.from_bytes(raw[:2]) % 31):
        # "deflate" sent raw, without zlib's header (as HTTPX's decoder allows too).
        decoder = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    left = raw
    try:
        while True:
            before = len(left)
            chunk = decoder.decompress(left, STEP)
            left = decoder.unconsumed_tail
            if not chunk:
                if left and len(left) < before:
                    continue  # input consumed without output yet (a header, say)
                chunk = decoder.flush(STEP) if not left else b""
                if not chunk:
                    return
            total += len(chunk)
            if total > limits.max_body_bytes:
                raise limits.body_too_large("body (decoded)")
            yield chunk
    except zlib.error:
        raise ResponseRefused(f"the {coding} body does not decode") from None


class BodyPieces:
    """A body taken piece by piece as a client hands it over, refused past the size or the
    count of pieces (for the transports that get the body from another client's stream)."""

    __slots__ = ("_limits", "_pieces", "_size")

    def __init__(self, limits: ResponseLimits) -> None:
        self._limits = limits
        self._pieces: list[bytes] = []
        self._size = 0

    def add(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size > self._limits.max_body_bytes:
            raise self._limits.body_too_large()
        self._pieces.append(piece)
        if len(self._pieces) > self._limits.max_body_chunks:
            raise self._limits.too_many_chunks()

    def joined(self) -> bytes:
        return b"".join(self._pieces)


def decode(raw: bytes, coding: str | None, limits: ResponseLimits) -> bytes:
    """``raw`` decoded from ``coding``, at most ``limits.max_body_bytes`` of it."""
    if coding is None:
        return raw
    return b"".join(_decode_steps(raw, coding, limits))


async def adecode(raw: bytes, coding: str | None, limits: ResponseLimits) -> bytes:
    """:func:`decode`, yielding to the event loop between steps."""
    if coding is None:
        return raw
    parts = []
    for part in _decode_steps(raw, coding, limits):
        parts.append(part)
        await asyncio.sleep(0)
    return b"".join(parts)


def read_response(
    status: int,
    headers: list[tuple[bytes, bytes]],
    content: bytes,
    *,
    coding: str | None,
    extensions: dict[str, Any],
    request: httpx.Request | None = None,
) -> httpx.Response:
    """An answer read whole, as a transport hands one to HTTPX through its public API: a stream
    of ``content``, decoded already, so the headers stop naming a coding (HTTPX would decode it
    again)."""
    if coding is not None:
        dropped = (b"content-encoding", b"content-length")
        headers = [(name, value) for name, value in headers if name.lower() not in dropped]
    return httpx.Response(
        status,
        headers=headers,
        stream=httpx.ByteStream(content),
        extensions=extensions,
        request=request,
    )


# --- requests ------------------------------------------------------------------------------------

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def check_header_values(headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Refuse an answer with a control character in a header (httptools does; aiohttp and h11
    let them by)."""
    for name, value in headers:
        if _CONTROL.search(value) or _CONTROL.search(name):
            raise ResponseRefused(f"control character in header {name!r}")


def check_request_head(method: bytes, headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Refuse a method or a header that would let bytes of ours be read as protocol."""
    if not _TOKEN.fullmatch(method):
        raise RequestRefused(f"invalid method {method!r}")
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise RequestRefused(f"invalid header name {name!r}")
        if _CONTROL.search(value):
            raise RequestRefused(f"control character in the value of header {name!r}")
