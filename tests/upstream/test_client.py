from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from hello_async import upstream
from hello_async.errors import UpstreamBadStatus, UpstreamTimeout, UpstreamUnavailable
from hello_async.fastpath.httpclient import LeanAsyncClient
from hello_async.upstream.transport import Http11Transport
from tests.support.faultproxy import Blackhole, Drip, FaultProxy, Mode, Pass


def make(
    handler,
    *,
    timeout: float = 5.0,
    counter: list[int] | None = None,
    client_class: type[httpx.AsyncClient] = httpx.AsyncClient,
) -> upstream.Upstream:
    def factory() -> httpx.AsyncBaseTransport:
        if counter is not None:
            counter.append(1)
        return httpx.MockTransport(handler)

    return upstream.Upstream(
        base_url="http://upstream.test",
        timeout=timeout,
        async_transport=factory,
        sync_transport=httpx.MockTransport(handler),
        client_class=client_class,
    )


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="hi")


@pytest.mark.asyncio
async def test_aget_reads_the_body() -> None:
    response = await make(ok).aget("/")
    assert response.text == "hi"
    assert repr(response) == "<Response [200 OK]>"


@pytest.mark.asyncio
async def test_one_client_per_serving_loop_and_one_per_call_elsewhere() -> None:
    made: list[int] = []
    client = make(ok, counter=made)
    await client.aget("/")
    await client.aget("/")
    assert len(made) == 2  # no lifespan on this loop: a client for each call, closed after it
    await client.astart()
    await client.aget("/")
    await client.aget("/")
    await client.aclose()
    assert len(made) == 3  # one long-lived client for the two calls


@pytest.mark.asyncio
async def test_bad_status_is_a_502_naming_it() -> None:
    with pytest.raises(UpstreamBadStatus) as caught:
        await make(lambda r: httpx.Response(404)).aget("/missing")
    assert caught.value.status_code == 502
    assert caught.value.upstream_status == 404
    assert str(caught.value) == "Upstream answered 404 Not Found for http://upstream.test/missing"


@pytest.mark.asyncio
async def test_total_deadline_gives_504() -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    with pytest.raises(UpstreamTimeout) as caught:
        await make(hang, timeout=0.05).aget("/")
    assert caught.value.status_code == 504
    assert "within 0.05 s" in str(caught.value)


@pytest.mark.asyncio
async def test_connect_error_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(UpstreamUnavailable, match="refused the connection"):
        await make(refuse).aget("/")


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["http11", "aiohttp"])
async def test_real_refused_port_through_either_transport(
    unused_tcp_port: int, transport: str, settings: Any
) -> None:
    settings.UPSTREAM_TRANSPORT = transport
    real = upstream.Upstream(base_url=f"http://127.0.0.1:{unused_tcp_port}", timeout=5)
    with pytest.raises(UpstreamUnavailable, match="Upstream refused the connection"):
        await real.aget("/")


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["http11", "aiohttp"])
async def test_real_upstream_through_either_transport(
    httpbin_url: str, transport: str, settings: Any
) -> None:
    settings.UPSTREAM_TRANSPORT = transport
    real = upstream.Upstream(base_url=httpbin_url, timeout=5)
    await real.astart()
    try:
        client = real._clients[asyncio.get_running_loop()].client
        kind = Http11Transport if transport == "http11" else AiohttpTransport
        assert isinstance(client._transport, kind)
        response = await real.aget("/get?meat=ribs")
        assert response.json()["args"] == {"meat": "ribs"}
        with pytest.raises(UpstreamBadStatus, match="503"):
            await real.aget("/status/503")
    finally:
        await real.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("lean", [True, False], ids=["fast path's client", "HTTPX's client"])
async def test_no_client_keeps_the_cookies_an_answer_sets(lean: bool) -> None:
    sent: list[str | None] = []

    def sets_cookies(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"Set-Cookie": f"c{len(sent)}=1; Path=/"}, text="hi")

    client = make(sets_cookies, client_class=LeanAsyncClient if lean else httpx.AsyncClient)
    await client.astart()  # the serving loop's long-lived client
    try:
        for _ in range(3):
            await client.aget("/")
        for _ in range(3):
            await asyncio.to_thread(client.get, "/")
    finally:
        await client.aclose()
        client.close()
    assert sent == [None] * 6


def test_translate_reads_the_aiohttp_cause_behind_connect_timeout() -> None:
    # httpx-aiohttp maps every aiohttp ClientConnectionError to httpx.ConnectTimeout.
    reset = httpx.ConnectTimeout("Server disconnected")
    reset.__cause__ = aiohttp.ServerDisconnectedError()
    assert type(upstream.translate(reset, url="u")) is UpstreamUnavailable

    slow = httpx.ConnectTimeout("timeout")
    slow.__cause__ = aiohttp.ConnectionTimeoutError()
    assert type(upstream.translate(slow, url="u")) is UpstreamTimeout

    plain = httpx.ReadTimeout("read timed out")
    assert type(upstream.translate(plain, url="u")) is UpstreamTimeout


def test_sync_get_shares_one_client() -> None:
    client = make(ok)
    assert client.get("/").text == "hi"
    first = client._client_sync()
    assert client.get("/").status_code == 200
    assert client._client_sync() is first
    client.close()


def test_sync_get_bad_status_and_refused(unused_tcp_port: int) -> None:
    with pytest.raises(UpstreamBadStatus):
        make(lambda r: httpx.Response(500)).get("/")
    real = upstream.Upstream(base_url=f"http://127.0.0.1:{unused_tcp_port}", timeout=5)
    try:
        with pytest.raises(UpstreamUnavailable, match="refused"):
            real.get("/")
    finally:
        real.close()


def test_sync_get_decodes_gzip_once() -> None:
    import gzip

    body = gzip.compress(b"hello")
    client = make(lambda r: httpx.Response(200, content=body, headers={"content-encoding": "gzip"}))
    assert client.get("/").content == b"hello"
    client.close()


# --- the sync path's total deadline, against a real socket (tests/support/faultproxy.py)


@pytest.mark.parametrize(
    "mode",
    [Drip(per_second=5), Blackhole()],
    ids=["drip: every read is quick", "blackhole: no byte at all"],
)
def test_sync_get_keeps_its_total_deadline(httpbin_url: str, mode: Mode) -> None:
    with FaultProxy(httpbin_url) as proxy:
        client = upstream.Upstream(base_url=proxy.url, timeout=0.5)
        try:
            proxy.set(mode)
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout):  # a 504, whatever timed out
                client.get("/")
            assert time.monotonic() - started <= 0.5 + 0.5  # the bound: deadline + 0.5 s
            proxy.set(Pass())
            assert client.get("/").status_code == 200
        finally:
            client.close()
