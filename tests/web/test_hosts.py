"""The Host check of the lean chain (hello_async.web.hosts): Django's answer, remembered."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.middleware.common import CommonMiddleware

from hello_async.fastpath import chain
from hello_async.web.hosts import LONGEST, REMEMBERED, AllowedHostsMiddleware
from tests.support.servers import Process, http_scope, uvicorn_server
from tests.test_settings import STRONG_KEY

ALLOWED = ["example.com", ".sub.example", "127.0.0.1", "[::1]"]
HOSTS = [
    "example.com",
    "example.com:8000",
    "EXAMPLE.COM",
    "example.com.",
    "evil.example",
    "example.com.evil.example",
    "a.sub.example",
    "sub.example:443",
    "evil.sub.example.evil",
    "127.0.0.1:8000",
    "[::1]:80",
    "[::2]",
    "example.com,evil.example",
    "example.com:bad",
    "",
]


def request(host: str | None, *headers: tuple[bytes, bytes]) -> ASGIRequest:
    scope = http_scope("/")
    scope["headers"] = [] if host is None else [(b"host", host.encode())]
    scope["headers"] += list(headers)
    return ASGIRequest(scope, io.BytesIO())


async def ok(request: HttpRequest) -> HttpResponseBase:
    return HttpResponse("ok")


def django_accepts(request: HttpRequest) -> bool:
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


async def middleware_accepts(middleware: AllowedHostsMiddleware, request: HttpRequest) -> bool:
    try:
        await middleware(request)
    except DisallowedHost:
        return False
    return True


@pytest.mark.asyncio
@pytest.mark.parametrize("debug", [False, True])
async def test_it_accepts_what_django_accepts_first_time_and_after(settings, debug) -> None:
    settings.ALLOWED_HOSTS = ALLOWED
    settings.DEBUG = debug
    middleware = AllowedHostsMiddleware(ok)
    for _ in range(3):  # the first round asks get_host(), the others may remember
        for host in [*HOSTS, None]:
            expected = django_accepts(request(host))
            assert await middleware_accepts(middleware, request(host)) is expected, host
    assert middleware.accepted == {h for h in HOSTS if django_accepts(request(h))}


@pytest.mark.asyncio
async def test_a_trusted_forwarded_host_is_checked_on_every_request(settings) -> None:
    settings.ALLOWED_HOSTS = ["example.com"]
    settings.USE_X_FORWARDED_HOST = True
    middleware = AllowedHostsMiddleware(ok)
    assert await middleware_accepts(middleware, request("example.com"))
    forwarded = (b"x-forwarded-host", b"evil.example")
    assert not await middleware_accepts(middleware, request("example.com", forwarded))
    assert middleware.accepted == set()


@pytest.mark.asyncio
async def test_what_it_remembers_is_bounded(settings) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    middleware = AllowedHostsMiddleware(ok)
    assert await middleware_accepts(middleware, request("a" * (LONGEST + 1)))
    assert middleware.accepted == set()
    for i in range(REMEMBERED * 2):
        assert await middleware_accepts(middleware, request(f"host-{i}.example"))
    assert len(middleware.accepted) == REMEMBERED


@pytest.mark.asyncio
async def test_the_lean_chain_answers_400_to_a_host_not_allowed(settings) -> None:
    settings.ALLOWED_HOSTS = ["example.com"]
    lean = chain.Chain(chain.LEAN_MIDDLEWARE)
    refused = await lean._middleware_chain(request("evil.example"))  # type: ignore[attr-defined]
    assert refused.status_code == 400
    assert b"<h1>Bad Request (400)</h1>" in refused.content  # Django's, as on the full chain
    assert refused["X-Content-Type-Options"] == "nosniff"  # inside SecurityMiddleware
    answered = await lean._middleware_chain(request("example.com"))  # type: ignore[attr-defined]
    assert answered.status_code == 200


@pytest.mark.asyncio
async def test_it_sets_content_length_as_common_middleware_does() -> None:
    async def streamed(request: HttpRequest) -> HttpResponseBase:
        return StreamingHttpResponse(iter([b"a", b"b"]))

    async def framed(request: HttpRequest) -> HttpResponseBase:
        response = HttpResponse("hello")
        response["Content-Length"] = "5"
        return response

    for view, expected in [(ok, "2"), (streamed, None), (framed, "5")]:
        ours = await AllowedHostsMiddleware(view)(request("127.0.0.1"))
        djangos = CommonMiddleware(lambda request, view=view: async_to_sync(view)(request))
        theirs = await sync_to_async(djangos)(request("127.0.0.1"))
        assert ours.get("Content-Length") == theirs.get("Content-Length") == expected
        assert list(ours.items()) == list(theirs.items())


# --- a real server in production mode ------------------------------------------------------------


@pytest.fixture(params=["1", "0"], ids=["fastpath", "stock"])
def production(request: pytest.FixtureRequest, httpbin_url: str) -> Iterator[tuple[Process, str]]:
    process, url = uvicorn_server(
        {
            "DJANGO_ALLOWED_HOSTS": "example.com",
            "DJANGO_SECRET_KEY": STRONG_KEY,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_DEBUG": "0",
            "HELLO_ASYNC_FASTPATH": request.param,
            "HELLO_ASYNC_TIME_SCALE": "0",
            "UPSTREAM_URL": httpbin_url,
        }
    )
    try:
        yield process, url
    finally:
        process.terminate()


@pytest.mark.server
def test_production_answers_400_to_a_host_not_allowed(production: tuple[Process, str]) -> None:
    process, url = production
    with httpx.Client(base_url=url, timeout=10) as client:
        for path in ["/", "/async/", "/healthz", "/readyz", "/smoke_some_meats/"]:
            refused = client.get(path, headers={"Host": "evil.example"})
            assert refused.status_code == 400, path
            # Behind the TLS proxy, with the scheme it forwards, too.
            behind = client.get(
                path, headers={"Host": "evil.example", "X-Forwarded-Proto": "https"}
            )
            assert behind.status_code == 400, path
        for path in ["/", "/async/", "/healthz"]:
            answered = client.get(path, headers={"Host": "example.com"})
            assert answered.status_code == 200, path
            # Framed by its length on either chain (CommonMiddleware's, or the lean one's), not
            # chunked.
            assert answered.headers["Content-Length"] == str(len(answered.content)), path
            assert "Transfer-Encoding" not in answered.headers, path
    process.wait_for(r"Invalid HTTP_HOST header: 'evil\.example'")
