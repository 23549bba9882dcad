"""hello_async.upstream.transport against real sockets: a local httpbin, and small scripted
servers that answer exactly what a test needs (keep-alive, a close mid-way, a malformed or endless
answer)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from hello_async.upstream.connection import Connection
from hello_async.upstream.limits import RequestRefused, ResponseLimits, ResponseRefused
from hello_async.upstream.transport import Http11Transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def client(*, hand_over_read: bool = False, **limits: float | int | None) -> httpx.AsyncClient:
    transport = Http11Transport(
        limits=httpx.Limits(**limits),  # type: ignore[arg-type]
        hand_over_read=hand_over_read,
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(5.0),
        trust_env=False,
    )


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server running ``handler`` per connection; yields its URL and a count of connections."""
    connections: list[int] = []
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def answer(body: bytes, *, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), extra, body)


async def keep_alive_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head = await read_request(reader)
        writer.write(answer(head.split(b" ")[1]))
        await writer.drain()


async def cancelled_once_sent(call: Awaitable[httpx.Response], arrived: asyncio.Event) -> None:
    """Run ``call``, cancel it once the server has its request (``arrived``), and see it end
    cancelled: a caller whose client left while it waited for the answer."""
    task = asyncio.ensure_future(call)
    await arrived.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- against httpbin ----------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("hand_over_read", [False, True])
async def test_get_post_and_gzip_against_httpbin(httpbin_url: str, hand_over_read: bool) -> None:
    async with client(hand_over_read=hand_over_read) as http:
        got = await http.get(f"{httpbin_url}/get", params={"q": "a b"})
        assert got.status_code == 200
        assert got.json()["args"] == {"q": "a b"}
        assert got.reason_phrase == "OK"

        posted = await http.post(f"{httpbin_url}/post", json={"meats": 6})
        assert posted.json()["json"] == {"meats": 6}

        gzipped = await http.get(f"{httpbin_url}/gzip")
        assert gzipped.json()["gzipped"] is True
        # Decoded here; handed over read, the answer keeps its headers as sent (HTTPX's decoders
        # never run); built with HTTPX's public API, its headers no longer name the coding.
        assert ("content-encoding" in gzipped.headers) is hand_over_read

        missing = await http.get(f"{httpbin_url}/status/404")
        assert missing.status_code == 404


@pytest.mark.asyncio
@pytest.mark.parametrize("hand_over_read", [False, True])
async def test_a_small_answer_arrives_read_and_can_still_be_streamed(hand_over_read: bool) -> None:
    async with (
        scripted(keep_alive_server) as (url, _),
        client(hand_over_read=hand_over_read) as http,
    ):
        read = await http.get(f"{url}/ribs")
        assert read.content == b"/ribs" and read.elapsed.total_seconds() >= 0
        async with http.stream("GET", f"{url}/brisket") as streamed:
            assert [chunk async for chunk in streamed.aiter_raw()] == [b"/brisket"]


@pytest.mark.asyncio
async def test_a_body_bigger_than_the_read_buffer_streams_whole_and_in_order() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: several reads, reading paused and resumed

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer(body))
            await writer.drain()

    transport = Http11Transport(response_limits=ResponseLimits(max_body_bytes=len(body)))
    async with scripted(big) as (url, connections), httpx.AsyncClient(transport=transport) as http:
        async with http.stream("GET", url) as streamed:
            chunks = [chunk async for chunk in streamed.aiter_raw()]
        assert b"".join(chunks) == body
        assert len(chunks) > 1
        assert (await http.get(url)).content == body  # the same connection, reused
    assert len(connections) == 1


# --- the pool -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_one_connection_serves_calls_one_after_another() -> None:
    async with scripted(keep_alive_server) as (url, connections), client() as http:
        for path in ("/a", "/b", "/c"):
            assert (await http.get(url + path)).text == path
    assert len(connections) == 1


@pytest.mark.asyncio
async def test_at_most_max_connections_and_callers_wait_their_turn() -> None:
    open_now = peak = 0
    release, two_open = asyncio.Event(), asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        if open_now == 2:
            two_open.set()
        try:
            while True:
                await read_request(reader)
                await release.wait()
                writer.write(answer(b"ok"))
                await writer.drain()
        finally:
            open_now -= 1

    async with scripted(slow) as (url, connections), client(max_connections=2) as http:
        calls = [asyncio.create_task(http.get(url)) for _ in range(6)]
        await two_open.wait()
        release.set()
        answers = await asyncio.gather(*calls)
    assert [a.text for a in answers] == ["ok"] * 6
    assert peak == 2 and len(connections) == 2


@pytest.mark.asyncio
async def test_pool_timeout_when_no_connection_frees_up() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # silent until the client hangs up

    async with scripted(never) as (url, _), client(max_connections=1) as http:
        first = asyncio.create_task(http.get(url, timeout=httpx.Timeout(5.0)))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await http.get(url, timeout=httpx.Timeout(5.0, pool=0.05))
        first.cancel()


@pytest.mark.asyncio
async def test_an_idle_connection_past_keepalive_expiry_is_not_reused() -> None:
    async with (
        scripted(keep_alive_server) as (url, connections),
        client(keepalive_expiry=0) as http,
    ):
        await http.get(url)
        await http.get(url)
    assert len(connections) == 2


@pytest.mark.asyncio
async def test_a_pooled_connection_the_server_closed_is_retried_once_on_a_new_one() -> None:
    served = 0

    async def closes_after_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await read_request(reader)
        if served:  # the second connection answers
            writer.write(answer(b"fresh"))
            await writer.drain()
            return
        served += 1
        writer.write(answer(b"first"))
        await writer.drain()
        await read_request(reader)  # the next request arrives... and the server hangs up
        writer.transport.abort()

    async with scripted(closes_after_one) as (url, connections), client() as http:
        assert (await http.get(url)).text == "first"
        assert (await http.get(url)).text == "fresh"
    assert len(connections) == 2


@pytest.mark.asyncio
async def test_a_cancelled_call_closes_its_connection() -> None:
    arrived = asyncio.Event()

    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.set()
        await reader.read()  # silent until the client hangs up

    transport = Http11Transport()
    async with scripted(never) as (url, _), httpx.AsyncClient(transport=transport) as http:
        call = asyncio.create_task(http.get(url))
        await arrived.wait()
        assert transport.pool_info() == {"connections": 1, "idle": 0}
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert transport.pool_info() == {"connections": 0, "idle": 0}


@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True])
async def test_a_cancelled_call_reads_its_answer_for_nobody_and_returns_the_connection(
    chunked: bool,
) -> None:
    """The client left mid-call: its answer is read to the end and the connection serves the
    next call, which gets its own answer, not the one read for nobody."""
    arrived = asyncio.Event()
    go = asyncio.Event()

    async def late_then_prompt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        while True:
            path = (await read_request(reader)).split(b" ")[1]
            if first:
                arrived.set()
                await go.wait()
                first = False
            if chunked:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"%x\r\n%b\r\n0\r\n\r\n" % (len(path), path)
                )
            else:
                writer.write(answer(path))
            await writer.drain()

    adopted = asyncio.Event()

    class Watched(Http11Transport):
        def _adopt(self, connection: Connection) -> None:
            super()._adopt(connection)
            adopted.set()

    transport = Watched(limits=httpx.Limits(max_connections=1), drain_cancelled=30.0)
    async with (
        scripted(late_then_prompt) as (url, connections),
        httpx.AsyncClient(transport=transport) as http,
    ):
        await cancelled_once_sent(http.get(f"{url}/left"), arrived)
        assert transport.pool_info() == {"connections": 1, "idle": 0}  # reading for nobody
        go.set()
        await adopted.wait()  # the answer read whole: the connection back in the pool
        assert transport.pool_info() == {"connections": 1, "idle": 1}
        response = await http.get(f"{url}/next")
        assert response.content == b"/next"  # its own answer, not the one read for nobody
        assert len(connections) == 1


@pytest.mark.asyncio
async def test_a_caller_at_the_limit_takes_the_place_of_a_connection_draining_for_nobody() -> None:
    arrived = asyncio.Event()

    async def first_never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            path = (await read_request(reader)).split(b" ")[1]
            if not arrived.is_set():  # the first request the server gets, on any connection
                arrived.set()
                await reader.read()  # never answers the first: silent until the client leaves
                return
            writer.write(answer(path))
            await writer.drain()

    transport = Http11Transport(limits=httpx.Limits(max_connections=1), drain_cancelled=30.0)
    async with (
        scripted(first_never) as (url, connections),
        httpx.AsyncClient(transport=transport) as http,
    ):
        await cancelled_once_sent(http.get(f"{url}/left"), arrived)
        assert transport.pool_info() == {"connections": 1, "idle": 0}  # draining
        response = await http.get(f"{url}/next")  # does not wait out the 30 s drain
        assert response.content == b"/next"
        assert len(connections) == 2
        assert transport.pool_info() == {"connections": 1, "idle": 1}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["connection_close", "head", "answer_closes", "until_eof"])
async def test_a_cancelled_call_after_which_the_connection_cannot_serve_again_closes_it(
    case: str,
) -> None:
    """Nothing to drain for: the request asked to close, a HEAD's answer (never reused), or an
    answer whose head, arriving after the caller left, closes the connection or ends with it."""
    arrived = asyncio.Event()
    go = asyncio.Event()
    hung_up = asyncio.Event()
    heads = {
        "answer_closes": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
        "until_eof": b"HTTP/1.1 200 OK\r\n\r\nthe body ends with the connection",
    }

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.set()
        if case in heads:
            await go.wait()  # the caller has left: the head comes to a connection draining
            writer.write(heads[case])
            await writer.drain()
        await reader.read()  # until the client hangs up
        hung_up.set()

    transport = Http11Transport(drain_cancelled=30.0)
    async with scripted(handler) as (url, _), httpx.AsyncClient(transport=transport) as http:
        if case == "connection_close":
            call = http.get(url, headers={"Connection": "close"})
        elif case == "head":
            call = http.head(url)
        else:
            call = http.get(url)
        await cancelled_once_sent(call, arrived)
        go.set()
        async with asyncio.timeout(10):  # a guard: closed at once, not after the 30 s drain
            await hung_up.wait()
        assert transport.pool_info() == {"connections": 0, "idle": 0}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["too_late", "too_big", "off"])
async def test_a_cancelled_call_whose_answer_is_late_or_refused_closes_its_connection(
    case: str,
) -> None:
    arrived = asyncio.Event()
    hung_up = asyncio.Event()

    async def answers_late_or_big(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        arrived.set()
        if case == "too_big":
            writer.write(answer(b"x" * 4096))
            await writer.drain()
        await reader.read()  # until the client hangs up
        hung_up.set()

    transport = Http11Transport(
        response_limits=ResponseLimits(max_body_bytes=1024),
        drain_cancelled=0.0 if case == "off" else 0.05 if case == "too_late" else 30.0,
    )
    async with (
        scripted(answers_late_or_big) as (url, _),
        httpx.AsyncClient(transport=transport) as http,
    ):
        await cancelled_once_sent(http.get(url), arrived)
        async with asyncio.timeout(10):  # a guard: the hang-up comes within drain_cancelled
            await hung_up.wait()
        assert transport.pool_info() == {"connections": 0, "idle": 0}


# --- framing ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chunked_eof_delimited_gzip_and_head_answers() -> None:
    packed = gzip.compress(b"smoked")

    async def varied(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            path = head.split(b" ")[1]
            if path == b"/chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                writer.write(b"3\r\nabc\r\n")
                await writer.drain()
                writer.write(b"2\r\nde\r\n0\r\n\r\n")
            elif path == b"/gzip":
                writer.write(answer(packed, extra=b"Content-Encoding: gzip\r\n"))
            elif head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            else:  # no length: the body ends with the connection
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
                await writer.drain()
                return
            await writer.drain()

    async with scripted(varied) as (url, _), client() as http:
        assert (await http.get(f"{url}/chunked")).text == "abcde"
        assert (await http.get(f"{url}/gzip")).text == "smoked"
        head = await http.head(f"{url}/head")
        assert head.status_code == 200 and head.content == b""
        assert (await http.get(f"{url}/eof")).text == "until the end"


@pytest.mark.asyncio
async def test_request_bodies_sized_and_chunked() -> None:
    bodies: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await echo_one(reader, writer)

    async def echo_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if b"chunked" in head.lower():
            body = await reader.readuntil(b"0\r\n\r\n")
        else:
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
        bodies.append(body)
        writer.write(answer(b"ok"))
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        yield b"ribs,"
        yield b"brisket"

    async with scripted(echo) as (url, _), client() as http:
        await http.post(url, content=b"sausage")
        await http.post(url, content=parts())
    assert bodies == [b"sausage", b"5\r\nribs,\r\n7\r\nbrisket\r\n0\r\n\r\n"]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_refused_is_a_connect_error_caused_by_the_refusal(unused_tcp_port: int) -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get(f"http://127.0.0.1:{unused_tcp_port}/")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


@pytest.mark.asyncio
async def test_silence_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # silent until the client hangs up

    async with scripted(silent) as (url, _), client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url, timeout=httpx.Timeout(5.0, read=0.05))


@pytest.mark.asyncio
async def test_malformed_answer_and_hang_up_are_protocol_errors() -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        if b"/garbage" in head:
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        await writer.drain()

    async with scripted(bad) as (url, _), client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{url}/garbage")
        with pytest.raises(httpx.RemoteProtocolError, match="complete response body"):
            await http.get(f"{url}/short")


@pytest.mark.asyncio
async def test_header_injection_is_refused_before_sending() -> None:
    async with scripted(keep_alive_server) as (url, connections), client() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(url, headers={"X-Meat": "ribs\r\nX-Evil: 1"})
    assert connections == []


@pytest.mark.asyncio
async def test_no_content_interim_answers_and_stray_bytes() -> None:
    async def odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            path = head.split(b" ")[1]
            if path == b"/none":
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            elif path == b"/hints":
                writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
                writer.write(answer(b"after the hints"))
            elif path == b"/stray":
                writer.write(
                    answer(b"the answer") + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"
                )
            else:
                writer.write(answer(path))
            await writer.drain()

    async with scripted(odd) as (url, connections), client() as http:
        none = await http.get(f"{url}/none")
        assert none.status_code == 204 and none.content == b""
        assert (await http.get(f"{url}/a")).text == "/a"  # 204 left the connection reusable
        assert len(connections) == 1
        hinted = await http.get(f"{url}/hints")
        assert hinted.status_code == 200 and hinted.text == "after the hints"
        stray = await http.get(f"{url}/stray")
        assert stray.text == "the answer" and "link" not in stray.headers
        assert (await http.get(f"{url}/b")).text == "/b"
    assert len(connections) == 2  # the connection that carried stray bytes was not reused


@pytest.mark.asyncio
async def test_idle_connections_close_after_the_keepalive_expiry_without_new_calls() -> None:
    hung_up, all_hung_up = 0, asyncio.Event()

    async def counts_hang_ups(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hung_up
        try:
            await keep_alive_server(reader, writer)
        except asyncio.IncompleteReadError:  # the client closed the connection
            hung_up += 1
            if hung_up == 5:
                all_hung_up.set()

    transport = Http11Transport(limits=httpx.Limits(keepalive_expiry=0.05))
    async with (
        scripted(counts_hang_ups) as (url, _),
        httpx.AsyncClient(transport=transport) as http,
    ):
        await asyncio.gather(*(http.get(url) for _ in range(5)))
        assert transport.pool_info()["idle"] == 5
        async with asyncio.timeout(5):
            await all_hung_up.wait()  # no call since: the pool's sweep closed them
        assert transport.pool_info() == {"connections": 0, "idle": 0}


# --- what the upstream may send back (hello_async.upstream.limits) ------------------------------

SMALL = ResponseLimits(max_header_bytes=4096, max_headers=20, max_body_bytes=65536)


def endless(prefix: bytes, piece: bytes) -> Handler:
    """An answer that starts with ``prefix`` and repeats ``piece`` until the client hangs up."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(prefix)
        while True:
            writer.write(piece * 64)
            await writer.drain()

    return handler


def once(raw: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()
        await reader.read()

    return handler


OK_HEAD = b"HTTP/1.1 200 OK\r\n"
HOSTILE = {
    "one header line that never ends": (endless(OK_HEAD + b"X-Meat: ", b"r"), "HEADER_BYTES"),
    "header lines that never end": (endless(OK_HEAD, b"X-Meat: ribs\r\n"), "MAX_HEADERS"),
    "interim answers that never end": (
        endless(b"", b"HTTP/1.1 103 Early Hints\r\n\r\n"),
        "MAX_HEADERS",  # each status line counts as a line
    ),
    "3000 interim answers, then the final one, in one write": (
        once(b"HTTP/1.1 100 Continue\r\n\r\n" * 3000 + b"HTTP/1.0 200 OK\r\n\r\nok"),
        "MAX_HEADERS",
    ),
    "one trailer line that never ends": (
        endless(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: ", b"a"),
        "head and trailers over 4096 bytes",
    ),
    "trailer lines that never end": (
        endless(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\n", b"X-Trailer: a\r\n"),
        "trailers included",
    ),
    "a chunk extension that never ends": (
        endless(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n2;x=", b"a"),
        "chunk size line over 1024 bytes",
    ),
    "a body with no length that never ends": (endless(OK_HEAD + b"\r\n", b"ribs"), "BODY_BYTES"),
    "an endless chunked body": (
        endless(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"4\r\nribs\r\n"),
        "BODY_CHUNKS",
    ),
    "an endless chunked body of big chunks": (
        endless(
            OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"4000\r\n" + bytes(16384) + b"\r\n"
        ),
        "BODY_BYTES",
    ),
    "a declared length over the limit": (
        once(OK_HEAD + b"Content-Length: 1000000\r\n\r\n"),
        "BODY_BYTES",
    ),
    "status 000": (once(b"HTTP/1.1 000 OK\r\nContent-Length: 0\r\n\r\n"), "outside 100-599"),
    "status 600": (once(b"HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n"), "outside 100-599"),
    "HTTP/2.0 in an HTTP/1 answer": (
        once(b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
        "version",
    ),
    "stacked encodings": (
        once(
            answer(gzip.compress(gzip.compress(b"ribs")), extra=b"Content-Encoding: gzip, gzip\r\n")
        ),
        "more than one content encoding",
    ),
    "two encoding headers": (
        once(
            answer(
                gzip.compress(gzip.compress(b"ribs")),
                extra=b"Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n",
            )
        ),
        "more than one content encoding",
    ),
    "an unknown encoding": (once(answer(b"x", extra=b"Content-Encoding: br\r\n")), "unsupported"),
    "a gzip bomb": (
        once(answer(gzip.compress(bytes(8 << 20)), extra=b"Content-Encoding: gzip\r\n")),
        "decoded",
    ),
    "a gzip body that does not decode": (
        once(answer(b"not gzip at all", extra=b"Content-Encoding: gzip\r\n")),
        "does not decode",
    ),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_answer_is_refused_at_once_naming_the_limit(case: str) -> None:
    handler, named = HOSTILE[case]
    transport = Http11Transport(response_limits=SMALL)
    async with scripted(handler) as (url, _), httpx.AsyncClient(transport=transport) as http:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ResponseRefused, match=named):
            await http.get(url, timeout=httpx.Timeout(5.0))
        assert loop.time() - started < 2.0
        assert transport.pool_info() == {"connections": 0, "idle": 0}  # closed, not pooled


@pytest.mark.asyncio
async def test_trailers_within_the_limits_are_read_and_dropped_as_httpx_drops_them() -> None:
    trailed = b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n"

    async def trailers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(OK_HEAD + trailed)
            await writer.drain()

    transport = Http11Transport(response_limits=SMALL)
    async with (
        scripted(trailers) as (url, connections),
        httpx.AsyncClient(transport=transport) as http,
    ):
        for _ in range(2):
            got = await http.get(url)
            assert got.text == "ok" and "x-sum" not in got.headers
    assert len(connections) == 1  # the connection stays reusable


@pytest.mark.asyncio
async def test_one_encoding_is_decoded_and_handed_over_the_raw_bytes_stay_readable() -> None:
    body = b"ribs " * 10_000
    packed = {b"/gzip": gzip.compress(body), b"/deflate": zlib.compress(body)}
    packed[b"/raw-deflate"] = packed[b"/deflate"][2:-4]

    async def encoded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            path = (await read_request(reader)).split(b" ")[1]
            coding = b"gzip" if path == b"/gzip" else b"deflate"
            writer.write(answer(packed[path], extra=b"Content-Encoding: %b\r\n" % coding))
            await writer.drain()

    transport = Http11Transport(response_limits=SMALL, hand_over_read=True)
    async with (
        scripted(encoded) as (url, connections),
        httpx.AsyncClient(transport=transport) as http,
    ):
        for path in packed:
            got = await http.get(url + path.decode())
            assert got.content == body
            async with http.stream("GET", url + path.decode()) as streamed:
                assert b"".join([c async for c in streamed.aiter_raw()]) == packed[path]
    assert len(connections) == 1  # decoded answers leave the connection reusable


@pytest.mark.asyncio
async def test_a_method_with_control_characters_is_refused_before_sending() -> None:
    async with scripted(keep_alive_server) as (url, connections), client() as http:
        with pytest.raises(RequestRefused, match="method"):
            await http.request("GET /admin HTTP/1.1\r\nX:", url)
        with pytest.raises(RequestRefused, match="control character"):
            await http.get(url, headers={"X-Meat": "ribs\x00"})
    assert connections == []


@pytest.mark.asyncio
async def test_a_waiter_woken_and_cancelled_in_one_step_passes_the_wake_up_on() -> None:
    """With the pool full, the freed place goes to the next waiter when the woken one is
    cancelled before it runs (it used to be lost: the next waiter got a PoolTimeout)."""

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_request(reader)
            if head.split(b" ")[1] == b"/held":  # half a body: the caller holds the connection
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nri")
            else:
                writer.write(answer(b"ok"))
            await writer.drain()

    transport = Http11Transport(limits=httpx.Limits(max_connections=1))
    async with scripted(held) as (url, _):
        timeouts = {"timeout": {"pool": 2.0, "read": 5.0, "connect": 5.0, "write": 5.0}}
        first = await transport.handle_async_request(
            httpx.Request("GET", f"{url}/held", extensions=timeouts)
        )
        second, third = (
            asyncio.create_task(
                transport.handle_async_request(httpx.Request("GET", url, extensions=timeouts))
            )
            for _ in range(2)
        )
        while len(transport._waiters) < 2:  # noqa: ASYNC110 (a loop round each, no timing)
            await asyncio.sleep(0)
        await first.aclose()  # frees the place and wakes the second, without yielding
        second.cancel()  # ... which is cancelled in the same step
        answer_ = await third
        await answer_.aread()
        assert answer_.content == b"ok"
        with pytest.raises(asyncio.CancelledError):
            await second
        await transport.aclose()


@pytest.mark.asyncio
async def test_a_freed_place_goes_to_the_first_waiter_not_to_a_later_caller() -> None:
    """With the pool full, what frees up (a connection, or a place) goes to the callers in the
    order they came: a caller arriving in the step that frees it waits its turn (it used to
    take it, and the waiter went to the back of the queue)."""
    seen: list[bytes] = []

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            path = (await read_request(reader)).split(b" ")[1]
            seen.append(path)
            if path == b"/held":  # half a body: the caller holds the connection
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nri")
            else:
                writer.write(answer(b"ok"))
            await writer.drain()

    transport = Http11Transport(limits=httpx.Limits(max_connections=1))
    timeouts = {"timeout": {"pool": 5.0, "read": 5.0, "connect": 5.0, "write": 5.0}}

    def get(url: str) -> asyncio.Task[httpx.Response]:
        request = httpx.Request("GET", url, extensions=timeouts)
        return asyncio.create_task(transport.handle_async_request(request))

    async with scripted(recording) as (url, _):
        held = await transport.handle_async_request(
            httpx.Request("GET", f"{url}/held", extensions=timeouts)
        )
        first = get(f"{url}/first")
        while not transport._waiters:  # noqa: ASYNC110 (a loop round each, no timing)
            await asyncio.sleep(0)
        later = get(f"{url}/later")  # scheduled: it runs before the waiter is woken
        await held.aclose()  # frees the place and wakes the waiter, without yielding
        for response in await asyncio.gather(first, later):
            await response.aread()
        await transport.aclose()
    assert seen == [b"/held", b"/first", b"/later"]
