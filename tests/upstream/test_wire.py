"""The count of an answer's framing on raw bytes as they are read (hello_async/upstream/wire.py),
which every transport runs before its parser."""

from __future__ import annotations

import pytest

from hello_async.upstream.limits import ResponseLimits, ResponseRefused
from hello_async.upstream.wire import DONE, TRAILERS, WireCount

LIMITS = ResponseLimits(max_headers=4, max_header_bytes=1024)


def fed(*reads: bytes, limits: ResponseLimits = LIMITS, head_only: bool = False) -> WireCount:
    count = WireCount(limits, head_only=head_only)
    for data in reads:
        count.feed(data)
    return count


def test_header_lines_and_bytes_are_counted_across_reads_and_the_body_is_not() -> None:
    head = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
    body = b"line\r\n" * 50
    for cut in range(len(head) + 1):  # the head split anywhere, the empty line included
        count = fed(head[:cut], head[cut:] + body, body)
        assert count.phase == DONE and count.lines == 4 and count.head_bytes == len(head)


def test_a_header_line_over_the_limit_is_refused_before_the_head_ends() -> None:
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_HEADERS"):
        fed(b"HTTP/1.1 200 OK\r\n", b"A: 1\r\n" * 5, b"B: 2")  # five lines, no end yet


def test_a_head_over_the_byte_limit_is_refused_whole_or_unfinished() -> None:
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_HEADER_BYTES"):
        fed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 1024)  # one line that has not ended
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_HEADER_BYTES"):
        fed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 1024 + b"\r\n\r\nbody")  # ended in the same read


def test_each_interim_answer_counts_a_line_as_the_async_transport_counts() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"  # two each
    assert fed(interim, b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n").lines == 3
    with pytest.raises(ResponseRefused, match="interim answers included"):
        fed(interim * 3)


def test_bare_interim_answers_count_their_status_lines_and_bytes() -> None:
    """The issue's 3000 x ``100 Continue`` then a 200, in one read: refused at the 5th here."""
    bare = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert fed(bare * 4 + b"HTTP/1.0 200 OK\r\n\r\nok").head_bytes == 4 * len(bare) + 19
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_HEADERS"):
        fed(bare * 3000 + b"HTTP/1.0 200 OK\r\n\r\nok")
    many = ResponseLimits(max_headers=10_000, max_header_bytes=1024)
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_HEADER_BYTES"):
        fed(bare * 3000 + b"HTTP/1.0 200 OK\r\n\r\nok", limits=many)


def test_bare_line_feeds_end_a_head_as_the_parsers_read_them() -> None:
    count = fed(b"HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nA: 1\n\nbody\n\n\n\n\n\n")
    assert count.phase == DONE and count.lines == 2


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_chunked_bodys_pieces_and_trailers_are_counted_across_reads_data_skipped() -> None:
    body = b"4\r\nr\nbs\r\n" + b"6;ext=1\r\n\n\n\n\n\n\n\r\n" + b"0\r\nX-Sum: 1\r\n\r\n"
    wire = CHUNKED_HEAD + body + b"HTTP/1.1 200 OK\r\n" * 10  # stray bytes after the end
    for cut in range(len(wire) + 1):
        count = fed(wire[:cut], wire[cut:])
        assert count.chunks == 2 and count.phase == DONE
        assert count.lines == 2 and count.head_bytes == len(CHUNKED_HEAD) + len(b"X-Sum: 1\r\n")


def test_more_pieces_than_the_limit_are_refused_in_the_read_that_brings_them() -> None:
    limits = ResponseLimits(max_body_chunks=3)
    count = WireCount(limits)
    count.feed(CHUNKED_HEAD + b"1\r\nx\r\n" * 3)
    with pytest.raises(ResponseRefused, match="UPSTREAM_MAX_BODY_CHUNKS"):
        count.feed(b"1\r\nx\r\n")


def test_an_endless_trailer_line_counts_with_the_head_bytes() -> None:
    count = fed(CHUNKED_HEAD + b"2\r\nok\r\n0\r\nX-Trailer: ")
    assert count.phase == TRAILERS
    with pytest.raises(
        ResponseRefused, match=r"head and trailers over 1024 bytes \(UPSTREAM_MAX_H"
    ):
        for _ in range(100):
            count.feed(b"a" * 64)


def test_trailer_lines_count_with_the_head_lines() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nA: 1\r\nB: 2\r\n\r\n"  # 3 lines
    assert fed(head + b"0\r\nX: 1\r\n\r\n").lines == 4
    with pytest.raises(ResponseRefused, match="trailers included .UPSTREAM_MAX_HEADERS"):
        fed(head + b"0\r\n" + b"X: 1\r\n" * 2)


def test_a_body_that_is_not_chunked_or_not_there_is_not_counted() -> None:
    count = fed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"1\r\nx\r\n" * 10)
    assert count.phase == DONE and count.chunks == 0
    for head in (b"HTTP/1.1 204 No Content\r\n", b"HTTP/1.1 304 Not Modified\r\n"):
        count = fed(head + b"Transfer-Encoding: chunked\r\n\r\n" + b"zz\r\n")
        assert count.phase == DONE
    count = fed(CHUNKED_HEAD + b"zz\r\n", head_only=True)  # the answer to a HEAD request
    assert count.phase == DONE


@pytest.mark.parametrize(
    ("size_line", "refusal"),
    [
        (b"zz\r\n", "does not parse"),
        (b"0x4\r\n", "does not parse"),
        (b"1_0\r\n", "does not parse"),
        (b"\r\n", "does not parse"),
        (b"1;" + b"e" * 1024, "over 1024 bytes"),  # an extension without end
    ],
)
def test_a_size_line_the_count_cannot_follow_is_refused(size_line: bytes, refusal: str) -> None:
    with pytest.raises(ResponseRefused, match=refusal):
        fed(CHUNKED_HEAD + size_line)
