"""hello_async.fastpath.httpclient: HTTPX's behaviour kept (cookies, auth, redirects)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Generator

import httpx
import pytest
from httpx._client import BoundAsyncStream

from hello_async.fastpath.httpclient import LeanAsyncClient, SetCookieOnlyCookies
from hello_async.upstream.limits import ResponseLimits
from hello_async.upstream.transport import Http11Transport
from tests.upstream.test_transport import answer, keep_alive_server, read_request, scripted


def echo(request: httpx.Request) -> httpx.Response:
    """/set sets a cookie; /redirect redirects to /echo; every answer echoes what was sent."""
    sent = {
        "cookie": request.headers.get("cookie"),
        "authorization": request.headers.get("authorization"),
        "path": request.url.path,
    }
    if request.url.path == "/set":
        return httpx.Response(200, json=sent, headers={"Set-Cookie": "meat=ribs; Path=/"})
    if request.url.path == "/redirect":
        return httpx.Response(302, headers={"Location": "/echo"})
    return httpx.Response(200, json=sent)


def lean(**kwargs: object) -> LeanAsyncClient:
    return LeanAsyncClient(
        base_url="http://upstream.test", transport=httpx.MockTransport(echo), **kwargs
    )


@pytest.mark.asyncio
async def test_cookies_set_by_a_response_are_kept_and_sent() -> None:
    async with lean() as client:
        assert (await client.get("/echo")).json()["cookie"] is None
        assert dict(client.cookies) == {}  # no Set-Cookie: the jar was not consulted
        await client.get("/set")
        assert dict(client.cookies) == {"meat": "ribs"}
        assert (await client.get("/echo")).json()["cookie"] == "meat=ribs"


@pytest.mark.asyncio
async def test_cookies_given_at_creation_or_assigned_later_are_sent() -> None:
    async with lean(cookies={"flavor": "stubbs"}) as client:
        assert isinstance(client.cookies, SetCookieOnlyCookies)
        assert (await client.get("/echo")).json()["cookie"] == "flavor=stubbs"
        client.cookies = {"flavor": "daves"}  # type: ignore[assignment]
        assert isinstance(client.cookies, SetCookieOnlyCookies)
        assert (await client.get("/echo")).json()["cookie"] == "flavor=daves"


class TwoStepAuth(httpx.Auth):
    """Sends the request, then once more with a header: a flow of two requests."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        yield request
        request.headers["Authorization"] = "Second try"
        yield request


@pytest.mark.asyncio
async def test_real_auth_still_runs_its_flow() -> None:
    async with lean(auth=("user", "pass")) as client:
        assert (await client.get("/echo")).json()["authorization"].startswith("Basic ")
    async with lean() as client:
        answer = await client.get("/echo", auth=TwoStepAuth())
        assert answer.json()["authorization"] == "Second try"
        assert len(answer.history) == 1
        anonymous = await client.get("http://user:pass@upstream.test/echo")
        assert anonymous.json()["authorization"].startswith("Basic ")  # credentials in the URL


@pytest.mark.asyncio
async def test_redirects_are_followed_or_not_as_asked() -> None:
    async with lean() as client:
        followed = await client.get("/redirect", follow_redirects=True)
        assert followed.json()["path"] == "/echo" and len(followed.history) == 1
        kept = await client.get("/redirect")
        assert kept.status_code == 302 and kept.next_request is not None


@pytest.mark.asyncio
async def test_an_answer_handed_over_read_is_freed_without_the_cyclic_collector() -> None:
    """Stock HTTPX ties each response to its stream both ways; a read one is unwrapped."""
    async with (
        scripted(keep_alive_server) as (url, _),
        LeanAsyncClient(transport=Http11Transport(hand_over_read=True)) as lean_client,
        httpx.AsyncClient(transport=Http11Transport(hand_over_read=True)) as stock_client,
    ):
        gc.disable()
        try:
            freed = {}
            for name, http in (("lean", lean_client), ("stock", stock_client)):
                response = await http.get(f"{url}/ribs")
                assert response.content == b"/ribs" and response.elapsed.total_seconds() >= 0
                gone = weakref.ref(response)
                del response
                freed[name] = gone() is None
        finally:
            gc.enable()
        assert freed == {"lean": True, "stock": False}


@pytest.mark.asyncio
async def test_an_answer_streamed_to_httpx_keeps_its_binding_and_gets_elapsed_on_close() -> None:
    body = bytes(1 << 20)  # more than one read: handed over streaming, read by HTTPX

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer(body))
            await writer.drain()

    transport = Http11Transport(response_limits=ResponseLimits(max_body_bytes=len(body)))
    async with scripted(big) as (url, _), LeanAsyncClient(transport=transport) as http:
        response = await http.get(url)
        assert response.content == body
        assert type(response.stream) is BoundAsyncStream  # HTTPX's path: read, then closed
        assert response.is_closed and response.elapsed.total_seconds() >= 0
