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


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_chunked_bodys_pieces_are_counted_across_reads_data_skipped() -> None:
    body = b"4\r\nr\nbs\r\n" + b"6;ext=1\r\n\n\n\n\n\n\n\r\n" + b"0\r\n\r\n"  # newlines in the data
    wire = CHUNKED_HEAD + body
    for cut in range(len(wire) + 1):
        lines = fed(wire[:cut], wire[cut:])
        assert lines.chunks is not None and lines.chunks.count == 2 and lines.chunks.done


def test_more_pieces_than_the_limit_are_refused_in_the_read_that_brings_them() -> None:
    limits = ResponseLimits(max_body_chunks=3)
    lines = _HeadLines(limits)
    lines.feed(CHUNKED_HEAD + b"1\r\nx\r\n" * 3)
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_BODY_CHUNKS"):
        lines.feed(b"1\r\nx\r\n")


def test_a_body_that_is_not_chunked_is_not_counted() -> None:
    lines = fed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"1\r\nx\r\n" * 10)
    assert lines.done and lines.chunks is None


def test_a_size_line_that_does_not_parse_is_left_to_h11() -> None:
    lines = fed(CHUNKED_HEAD + b"zz\r\n" + b"1\r\nx\r\n" * 10)
    assert lines.chunks is not None and lines.chunks.done and lines.chunks.count == 0
