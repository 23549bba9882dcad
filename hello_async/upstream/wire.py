"""An answer's framing, counted on the raw bytes as they are read, before a parser holds them.

The parsers keep what they have not finished in memory and work on what they have: httptools
joins an endless header value piece by piece (a trailer's too, long after the head), h11 keeps up
to 100 KiB of a head, and each of them turns every interim (1xx) answer and every chunk into
Python calls. Counted here on each read, an answer is refused within the read that breaks a
limit (hello_async.upstream.limits), whatever its parser would have done with it:

* **heads**: every byte and header line of them, interim answers included, each interim status
  line one more line: within ``max_header_bytes`` and ``max_headers``;
* **a chunked body**: its pieces, within ``max_body_chunks`` (the size lines read, the data
  skipped);
* **trailers**: their bytes and lines added to the head's, within the same two limits.

A size line that does not parse, or runs past 1 KiB, is refused here: every parser refuses the
first, and counting could not follow an answer past either.
"""

from __future__ import annotations

import re

from hello_async.upstream.limits import ResponseLimits, ResponseRefused

# The end of a head: an empty line (the parsers take a bare LF too).
_HEAD_END = re.compile(rb"\n\r?\n")
_INTERIM = re.compile(rb"HTTP/\d\.\d 1\d\d[ \r\n]")
_NO_BODY = re.compile(rb"HTTP/\d\.\d (?:204|304)[ \r\n]")
_CHUNKED = re.compile(rb"\ntransfer-encoding:[^\n]*chunked", re.IGNORECASE)
MAX_SIZE_LINE = 1024  # a chunk's size line, extensions included (h11 allows no more)

HEAD, CHUNKS, TRAILERS, DONE = range(4)


class WireCount:
    """One answer's heads, chunks and trailers, counted read by read (:meth:`feed`)."""

    __slots__ = (
        "_head_only",
        "_limits",
        "_pending",
        "_pending_lines",
        "_skip",
        "chunks",
        "head_bytes",
        "lines",
        "phase",
    )

    def __init__(self, limits: ResponseLimits, *, head_only: bool = False) -> None:
        self._limits = limits
        self._head_only = head_only  # a HEAD request: no body follows the final head
        self._pending = bytearray()  # an unfinished head, size line or trailer line
        self._pending_lines = 0  # the line feeds in an unfinished head
        self._skip = 0  # the bytes of chunk data (and their CRLF) still to pass over
        self.lines = 0  # header lines: every head's, one per interim status line, trailers
        self.head_bytes = 0  # the bytes of the finished heads and trailer lines
        self.chunks = 0
        self.phase = HEAD

    @property
    def head_done(self) -> bool:
        """The final answer's head is in."""
        return self.phase != HEAD

    def feed(self, data: bytes | bytearray) -> None:
        """Count one read; raises :class:`ResponseRefused` naming the limit it breaks."""
        if self.phase == HEAD:
            rest = self._heads(data)
            if rest is None:
                return
            data = rest
        if self.phase == CHUNKS:
            at = self._chunks(data)
            if self.phase == TRAILERS:
                self._trailers(data, at)
        elif self.phase == TRAILERS:
            self._trailers(data, 0)

    # --- the phases ------------------------------------------------------------------------------

    def _heads(self, data: bytes | bytearray) -> bytes | bytearray | None:
        """Count heads; once the final one is in, returns the bytes that followed it."""
        limits = self._limits
        pending = self._pending
        if pending:
            searched = max(0, len(pending) - 2)  # the end may begin in what came before
            pending += data
            buf: bytes | bytearray = pending
        else:
            searched = 0
            buf = data
        start = 0
        while (end := _HEAD_END.search(buf, max(searched, start))) is not None:
            stop = end.end()
            self.head_bytes += stop - start
            self.lines += max(0, buf.count(b"\n", start, stop) - 2)  # not the status, empty line
            interim = _INTERIM.match(buf, start) is not None
            if interim:
                self.lines += 1  # an interim status line counts as a line
            self._check("head")
            if not interim:
                chunked = _CHUNKED.search(buf, start, stop) is not None
                has_body = not self._head_only and _NO_BODY.match(buf, start) is None
                self.phase = CHUNKS if chunked and has_body else DONE
                rest = buf[stop:] if self.phase == CHUNKS else b""
                self._pending = bytearray()
                return rest
            start = stop
        # An unfinished head: what it holds so far is within the limits, or it is refused.
        if start:  # heads ended in this read: the rest lies in this read
            self._pending_lines = buf.count(b"\n", start)
        else:
            self._pending_lines += data.count(b"\n")
        if self.lines + max(0, self._pending_lines - 1) > limits.max_headers:
            raise limits.too_many_headers()  # the status line is not a header line
        if self.head_bytes + len(buf) - start > limits.max_header_bytes:
            raise limits.head_too_large()
        if buf is pending:
            del pending[:start]
        else:
            pending += buf[start:]
        return None

    def _chunks(self, data: bytes | bytearray) -> int:
        """Count pieces; returns where the trailers start once the last chunk's line is read."""
        limits = self._limits
        at, end = 0, len(data)
        while at < end:
            if self._skip:
                step = min(self._skip, end - at)
                self._skip -= step
                at += step
                continue
            newline = data.find(b"\n", at)
            if newline < 0:
                self._pending += data[at:]
                if len(self._pending) > MAX_SIZE_LINE:
                    raise ResponseRefused(f"a chunk size line over {MAX_SIZE_LINE} bytes")
                return end
            line = bytes(self._pending + data[at:newline])
            self._pending.clear()
            at = newline + 1
            if len(line) > MAX_SIZE_LINE:
                raise ResponseRefused(f"a chunk size line over {MAX_SIZE_LINE} bytes")
            digits = line.split(b";", 1)[0].strip()
            if not digits or digits.strip(b"0123456789abcdefABCDEF"):
                raise ResponseRefused("a chunk size line that does not parse")
            size = int(digits, 16)
            if size == 0:
                self.phase = TRAILERS  # the last chunk: trailers follow, then an empty line
                return at
            self.chunks += 1
            if self.chunks > limits.max_body_chunks:
                raise limits.too_many_chunks()
            self._skip = size + 2  # the data, then its CRLF
        return end

    def _trailers(self, data: bytes | bytearray, at: int) -> None:
        limits = self._limits
        end = len(data)
        while at < end:
            newline = data.find(b"\n", at)
            if newline < 0:
                self._pending += data[at:]
                if self.head_bytes + len(self._pending) > limits.max_header_bytes:
                    raise limits.head_too_large("head and trailers")
                return
            line = bytes(self._pending + data[at:newline])
            self._pending.clear()
            at = newline + 1
            if line in (b"", b"\r"):
                self.phase = DONE  # the end of the answer; what follows is not counted
                return
            self.lines += 1
            self.head_bytes += len(line) + 1
            self._check("head and trailers")

    def _check(self, what: str) -> None:
        limits = self._limits
        if self.lines > limits.max_headers:
            raise limits.too_many_headers("trailers" if what != "head" else "interim answers")
        if self.head_bytes > limits.max_header_bytes:
            raise limits.head_too_large(what)
