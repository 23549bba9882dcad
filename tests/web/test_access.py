"""What strangers can reach: the lab switch and the metrics token (hello_async.web.access).

In process with the setting overridden, then once on a real Uvicorn in production mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from django.test import Client

from hello_async.asgi import application
from tests.support.servers import Process, uvicorn_server
from tests.test_settings import STRONG_KEY

TOKEN = "m3trics-T0ken_for-the-tests"
LAB_PATHS = [
    "/burn_some_meats/",  # the article's anti-pattern: it blocks the event loop for 5 s
    "/lab/",
    "/lab/status/",
    "/compare/block/?ms=3000",
    "/compare/nonblock/?ms=3000",
    "/compare/sync_call/",
    "/compare/gathered/",
]


@pytest.fixture
def lab_off(settings) -> None:
    settings.HELLO_ASYNC_LAB = False


@pytest.fixture
def production(settings) -> None:
    """Only what hello_async.web.access reads: the rest of the settings stay local."""
    settings.PRODUCTION = True
    settings.HELLO_ASYNC_METRICS_TOKEN = TOKEN


# --- the lab switch ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", LAB_PATHS)
def test_lab_and_compare_are_404_while_the_lab_is_off(lab_off, path: str) -> None:
    started = time.monotonic()
    response = Client().get(path)
    assert response.status_code == 404
    assert time.monotonic() - started < 1  # /compare/block/?ms=3000 did not run


@pytest.mark.django_db
def test_the_lab_off_answers_as_a_url_that_does_not_exist(lab_off) -> None:
    strict = Client(enforce_csrf_checks=True)
    # No CSRF 403 before the 404, no 405 for the wrong method...
    assert strict.post("/lab/run/", b"{}", content_type="application/json").status_code == 404
    assert strict.post("/compare/block/").status_code == 404
    # ...and no redirect to the slashed path (CommonMiddleware redirects only to a route).
    assert strict.get("/lab").status_code == 404
    assert strict.get("/nope").status_code == 404


@pytest.mark.django_db
def test_the_lab_on_is_routed_again(settings) -> None:
    settings.HELLO_ASYNC_LAB = False
    assert Client().get("/compare/nonblock/").status_code == 404
    settings.HELLO_ASYNC_LAB = True
    response = Client().get("/compare/nonblock/")
    assert response.status_code == 200
    assert response.content == b"waited 0 ms without blocking"
    assert Client().get("/lab/").status_code == 200
    assert Client().get("/lab").status_code == 301  # the slash redirect, as for any route


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/", "/async/", "/sync/", "/sync_to_async/", "/smoke_some_meats/"],
)
def test_the_articles_views_do_not_depend_on_the_lab(
    lab_off, fake_upstream, owner, path: str
) -> None:
    assert Client().get(path).status_code == 200


# --- the metrics token ---------------------------------------------------------------------------


async def get_metrics(authorization: bytes | None = None, method: str = "GET") -> httpx.Response:
    """``/metrics`` through the whole ASGI application, the header sent as raw bytes."""
    headers = {} if authorization is None else {"Authorization": authorization}
    transport = httpx.ASGITransport(app=application)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        return await http.request(method, "/metrics", headers=headers)


@pytest.mark.asyncio
async def test_metrics_are_open_outside_production(settings) -> None:
    settings.PRODUCTION = False
    settings.HELLO_ASYNC_METRICS_TOKEN = TOKEN  # not asked for all the same
    response = await get_metrics()
    assert response.status_code == 200
    assert "hello_async_requests_in_flight" in response.text


@pytest.mark.asyncio
async def test_metrics_in_production_without_a_token_set_are_404(production, settings) -> None:
    settings.HELLO_ASYNC_METRICS_TOKEN = ""
    for authorization in (None, b"", b"Bearer ", b"Bearer " + TOKEN.encode()):
        assert (await get_metrics(authorization)).status_code == 404
    assert (await get_metrics(method="POST")).status_code == 404  # not 405


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        b"",
        b"Bearer",
        b"Bearer ",
        b"Bearer " + TOKEN.encode() + b"x",
        b"Bearer " + TOKEN[:-1].encode(),
        b"Basic " + TOKEN.encode(),
        TOKEN.encode(),
        b"Bearer" + TOKEN.encode(),
        b"Bearer \xc3\xa9\xe2\x82\xac\xff",  # not ASCII: refused, not a 500
    ],
)
async def test_metrics_in_production_refuse_a_missing_or_wrong_token(
    production, authorization: bytes | None
) -> None:
    response = await get_metrics(authorization)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "hello_async" not in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} ", f" Bearer {TOKEN}"]
)
async def test_metrics_in_production_answer_the_token(production, authorization: str) -> None:
    response = await get_metrics(authorization.encode())
    assert response.status_code == 200
    assert "hello_async_requests_in_flight" in response.text


@pytest.mark.asyncio
async def test_metrics_in_production_check_the_token_before_the_method(production) -> None:
    assert (await get_metrics(method="POST")).status_code == 401
    authorized = f"Bearer {TOKEN}".encode()
    assert (await get_metrics(authorized, method="POST")).status_code == 405


@pytest.mark.asyncio
async def test_a_non_ascii_token_matches_the_bytes_a_client_sends(production, settings) -> None:
    settings.HELLO_ASYNC_METRICS_TOKEN = "jeton-été"
    assert (await get_metrics("Bearer jeton-été".encode())).status_code == 200
    assert (await get_metrics(b"Bearer jeton-ete")).status_code == 401


# --- a real server in production mode ------------------------------------------------------------


def production_server(httpbin_url: str, token: str) -> tuple[Process, str]:
    return uvicorn_server(
        {
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECRET_KEY": STRONG_KEY,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_DEBUG": "0",
            "HELLO_ASYNC_METRICS_TOKEN": token,
            "HELLO_ASYNC_TIME_SCALE": "0",
            "UPSTREAM_URL": httpbin_url,
        }
    )


@pytest.fixture
def with_token(httpbin_url: str) -> Iterator[str]:
    process, url = production_server(httpbin_url, TOKEN)
    try:
        yield url
    finally:
        process.terminate()


@pytest.fixture
def without_token(httpbin_url: str) -> Iterator[str]:
    process, url = production_server(httpbin_url, "")
    try:
        yield url
    finally:
        process.terminate()


@pytest.mark.server
def test_production_server_hides_the_lab_and_guards_metrics(with_token: str) -> None:
    with httpx.Client(base_url=with_token, timeout=10) as client:
        started = time.monotonic()
        assert client.get("/compare/block/", params={"ms": 3000}).status_code == 404
        assert time.monotonic() - started < 2  # the loop was not blocked for 3 s
        assert client.get("/lab/").status_code == 404
        assert client.post("/lab/run/", json={"preset": "sync_vs_async"}).status_code == 404
        assert client.get("/compare/async_call/").status_code == 404

        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert metrics.status_code == 200
        assert "hello_async_requests_in_flight" in metrics.text

        # The article's views and the probes are still there.
        assert client.get("/").text == "Hello, async Django!"
        assert client.get("/smoke_some_meats/").status_code == 200
        assert client.get("/healthz").text == "ok\n"


@pytest.mark.server
def test_production_server_without_a_metrics_token_has_no_metrics(without_token: str) -> None:
    with httpx.Client(base_url=without_token, timeout=10) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404
        assert client.get("/compare/block/").status_code == 404
        assert client.get("/healthz").status_code == 200
