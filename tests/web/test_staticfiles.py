"""Static files: a missing file, a folder or the static root is a 404 under DEBUG and without it.

ServeStatic's own middleware raises ``MissingFileError`` (a 500) for any miss under ``STATIC_URL``
when DEBUG is on; hello_async.web.staticfiles turns it into a 404. Each mode is checked in process
(the project's ASGI handler, built under the mode) with generated paths, and on a real Uvicorn.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from hello_async.fastpath.handler import FastASGIHandler
from tests.support.servers import Process, http_scope, uvicorn_server

SERVESTATIC = "servestatic.middleware.ServeStaticMiddleware"
OURS = "hello_async.web.staticfiles.StaticFilesMiddleware"

MISSING = [
    "/static/",
    "/static/lab/",
    "/static/lab",
    "/static/admin/",
    "/static/admin/css/",
    "/static/nope.css",
    "/static/lab/nope.js",
    "/static/lab/lab.css/",
    "/static//",
    "/static/../hello_async/settings.py",
    "/static/%2e%2e/hello_async/settings.py",
    "/static/%00",
    "/static/lab/lab.css%00.txt",
    "/static/%ff.css",
]
PRESENT = ["/static/lab/lab.css", "/static/admin/css/base.css"]

segment = st.one_of(
    st.sampled_from(
        ["admin", "lab", "css", "js", "img", "lab.css", "base.css", "..", ".", "", "\x00", "é"]
    ),
    st.text(max_size=12),
)
static_path = st.builds(
    lambda parts, slash: "/static/" + "/".join(parts) + ("/" if slash else ""),
    st.lists(segment, max_size=4),
    st.booleans(),
)


# --- in process: the project's handler with the middleware configured for the mode -------------


def our_middleware() -> list[str]:
    """settings.MIDDLEWARE with hello_async's static middleware in ServeStatic's place."""
    return [OURS if name == SERVESTATIC else name for name in django_settings.MIDDLEWARE]


@pytest.fixture(params=[True, False], ids=["debug", "no-debug"])
def handler(request: pytest.FixtureRequest, settings: Any) -> FastASGIHandler:
    settings.DEBUG = request.param
    settings.MIDDLEWARE = our_middleware()
    return FastASGIHandler()  # ServeStatic reads DEBUG once, when the middleware is built


async def astatus(app: FastASGIHandler, path: str) -> int:
    """The status ``app`` answers a GET of ``path`` (decoded, as a server hands it over) with."""
    scope = http_scope(path)
    scope["raw_path"] = quote(path, safe="/", errors="surrogateescape").encode()
    sent: list[dict[str, Any]] = []
    request = [{"type": "http.request", "body": b""}]
    connected = asyncio.Event()  # never set: the client stays until the answer is sent

    async def receive() -> dict[str, Any]:
        if request:
            return request.pop()
        await connected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return int(sent[0]["status"])


@pytest.mark.django_db
@pytest.mark.parametrize("path", MISSING)
def test_a_missing_file_folder_or_root_is_404(handler: FastASGIHandler, path: str) -> None:
    decoded = path.replace("%2e", ".").replace("%00", "\x00").replace("%ff", "\xff")
    assert asyncio.run(astatus(handler, decoded)) == 404


@pytest.mark.django_db
@pytest.mark.parametrize("path", PRESENT)
def test_a_present_file_is_served(handler: FastASGIHandler, path: str) -> None:
    assert asyncio.run(astatus(handler, path)) == 200


@pytest.mark.django_db
def test_no_static_path_makes_a_5xx(handler: FastASGIHandler) -> None:
    seen: set[int] = set()

    @hypothesis_settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(path=static_path)
    def prop(path: str) -> None:
        status = asyncio.run(astatus(handler, path))
        seen.add(status)
        assert status < 500, path

    prop()
    assert 404 in seen


def test_servestatic_alone_answers_500_under_debug(settings: Any) -> None:
    """The cause, kept in view: if a ServeStatic upgrade stops raising, the subclass may go."""
    settings.DEBUG = True
    settings.MIDDLEWARE = [SERVESTATIC if name == OURS else name for name in our_middleware()]
    assert asyncio.run(astatus(FastASGIHandler(), "/static/nope.css")) == 500


# --- on a real Uvicorn, with the settings as they are ------------------------------------------


def raw_status(url: str, raw_path: str) -> int:
    """GET ``raw_path`` sent byte for byte (an HTTP client would normalise the dots)."""
    address = httpx.URL(url)
    assert address.host and address.port
    with socket.create_connection((address.host, address.port), timeout=10) as sock:
        sock.sendall(
            f"GET {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        head = sock.recv(64)
    return int(head.split(b" ", 2)[1])


DEBUG_NEEDS_OURS = pytest.mark.xfail(
    SERVESTATIC in django_settings.MIDDLEWARE,
    reason=f"settings.MIDDLEWARE still names {SERVESTATIC}, not {OURS}",
    strict=True,
)


@pytest.fixture(
    params=[pytest.param("1", marks=DEBUG_NEEDS_OURS, id="debug"), pytest.param("0", id="no-debug")]
)
def server(request: pytest.FixtureRequest, httpbin_url: str) -> Iterator[str]:
    process: Process
    process, url = uvicorn_server({"DJANGO_DEBUG": request.param, "UPSTREAM_URL": httpbin_url})
    try:
        yield url
    finally:
        process.terminate()


@pytest.mark.server
def test_real_server_answers_404_for_missing_static_paths(server: str) -> None:
    assert {path: raw_status(server, path) for path in MISSING} == dict.fromkeys(MISSING, 404)
    assert {path: raw_status(server, path) for path in PRESENT} == dict.fromkeys(PRESENT, 200)
