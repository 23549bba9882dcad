"""The real thing: Uvicorn in a subprocess, serving hello_async.asgi against a local httpbin."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from hello_async.article import kitchen
from tests.support.servers import Process, uvicorn_server

pytestmark = pytest.mark.server

SCALE = 0.4  # ticks of 0.4 s, a burn of 2 s


@pytest.fixture(scope="module")
def server(httpbin_url: str) -> Iterator[tuple[Process, str]]:
    process, url = uvicorn_server(
        {"UPSTREAM_URL": httpbin_url, "HELLO_ASYNC_TIME_SCALE": str(SCALE)}
    )
    try:
        yield process, url
    finally:
        # Uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15.
        process.terminate()
        process.wait_for(r"Application shutdown complete", timeout=5)


BODIES = {
    "/": "Hello, async Django!",
    "/async/": "Non-blocking HTTP request",
    "/sync_to_async/": "Non-blocking HTTP request (via sync_to_async)",
    "/burn_some_meats/": "Burned some meats.",
    "/sync/": "Blocking HTTP request",
}


@pytest.mark.parametrize("path", list(BODIES))
def test_every_path_over_http(server: tuple[Process, str], path: str) -> None:
    _, url = server
    response = httpx.get(url + path, timeout=30)
    assert response.status_code == 200
    assert response.text == BODIES[path]


def test_smoke_some_meats_over_http(server: tuple[Process, str]) -> None:
    _, url = server
    response = httpx.get(url + "/smoke_some_meats/", timeout=30)
    assert response.status_code == 200
    assert response.text in {f"Smoked 6 meats with {flavor}!" for flavor in kitchen.FLAVORS}


def test_admin_login_page_and_its_static_files(server: tuple[Process, str]) -> None:
    _, url = server
    page = httpx.get(url + "/admin/login/", timeout=30)
    assert page.status_code == 200
    assert "Django administration" in page.text
    css = httpx.get(url + "/static/admin/css/base.css", timeout=30)
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_async_view_logs_its_count_after_the_access_line(server: tuple[Process, str]) -> None:
    process, url = server
    start = len(process.lines)
    assert httpx.get(url + "/async/", timeout=30).status_code == 200
    process.wait_for(r"<Response \[200 OK\]>", start=start)
    lines = process.lines[start:]
    access = next(i for i, line in enumerate(lines) if '"GET /async/ HTTP/1.1" 200' in line)
    first = next(i for i, line in enumerate(lines) if line.endswith(" 1"))
    assert access < first


def _race(url: str, slow_path: str, started: str, process: Process) -> list[str]:
    """Start ``slow_path``; once the server logs ``started``, GET /.

    Returns the order in which the server answered them, from its access log: one event loop
    writes those lines as it sends each response, so their order is the order of the answers
    (the clients' own completion order would race between two client threads).
    """
    mark = len(process.lines)
    slow = threading.Thread(target=lambda: httpx.get(url + slow_path, timeout=60))
    slow.start()
    process.wait_for(started, start=mark)
    assert httpx.get(url + "/", timeout=60).status_code == 200
    slow.join(timeout=60)
    for path in ("/", slow_path):
        process.wait_for(rf'"GET {path} HTTP/1.1" 200', start=mark)
    answered = []
    for line in process.lines[mark:]:
        for path in ("/", slow_path):
            if f'"GET {path} HTTP/1.1" 200' in line:
                answered.append(path)
    return answered


def test_burn_holds_up_every_other_request(server: tuple[Process, str]) -> None:
    process, url = server
    order = _race(url, "/burn_some_meats/", r"Burning some meats", process)
    # The request to / was sent while the burn ran, yet it was answered after: the loop was blocked.
    assert order == ["/burn_some_meats/", "/"]


def test_sync_view_does_not_hold_up_other_requests(server: tuple[Process, str]) -> None:
    process, url = server
    # After the first tick, /sync/ still has four blocking ticks to go in its own thread.
    order = _race(url, "/sync/", r"INFO:\s+1$", process)
    assert order == ["/", "/sync/"]
