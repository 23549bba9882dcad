"""The sync transport's count of head lines, on raw bytes as they are read (sync_transport.py)."""

from __future__ import annotations

import pytest

from hello_async.upstream.limits import ResponseLimits, ResponseRefused
from hello_async.upstream.sync_transport import _HeadLines

LIMITS = ResponseLimits(max_headers=4)


def fed(*reads: bytes) -> _HeadLines:
    lines = _HeadLines(LIMITS)
    for data in reads:
        lines.feed(data)
    return lines


def test_header_lines_are_counted_across_reads_and_the_body_is_not() -> None:
    head = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
    body = b"line\r\n" * 50
    for cut in range(len(head) + 1):  # the head split anywhere, the empty line included
        lines = fed(head[:cut], head[cut:] + body, body)
        assert lines.done and lines.lines == 4


def test_a_header_line_over_the_limit_is_refused_before_the_head_ends() -> None:
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_HEADERS"):
        fed(b"HTTP/1.1 200 OK\r\n", b"A: 1\r\n" * 5, b"B: 2")  # five lines, no end yet


def test_each_interim_answer_counts_a_line_as_the_async_transport_counts() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"  # two each
    assert fed(interim, b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n").lines == 3
    with pytest.raises(ResponseRefused, match="interim answers included"):
        fed(interim * 3)


def test_bare_line_feeds_end_a_head_as_h11_reads_them() -> None:
    lines = fed(b"HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nA: 1\n\nbody\n\n\n\n\n\n")
    assert lines.done and lines.lines == 2
