"""Property tests: whatever a client sends, no endpoint answers 5xx.

Every endpoint of the URLconf (except Django's admin) is called through the project's whole ASGI
application (body limit and in-flight wrappers, Django's handler, the middleware) with generated
methods, query strings, headers and bodies. The upstream is stubbed at the transport
(``fake_upstream``); the one view that builds clients of its own (``client_per_call``) gets a
loopback server that answers at once. A 400 must say what was wrong (a non-empty body).

The default suite runs ``EXAMPLES`` cases per endpoint; ``HELLO_ASYNC_LONG=1`` adds the marked
long run of 10,000 per endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import signing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hello_async import upstream
from hello_async.asgi import application
from hello_async.jobs import background
from hello_async.lab.presets import PRESETS
from hello_async.live import console
from hello_async.ops import lifespan
from tests.conftest import FakeUpstream
from tests.support.endpoints import endpoints
from tests.support.parts import using_owner, using_upstream

EXAMPLES = 50
LONG_EXAMPLES = 10_000


ENDPOINTS = endpoints()

# --- what a client may send ------------------------------------------------------------------

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
PARAMS = ["limit", "ms", "delay_ms", "preset", "concurrency", "next", "language", "format"]
HEADERS = [
    "accept",
    "accept-language",
    "content-type",
    "cookie",
    "host",
    "origin",
    "referer",
    "user-agent",
    "x-forwarded-proto",
    "x-forwarded-for",
    "x-requested-with",
]

CSRF_SECRET = b"abcdefghijklmnopqrstuvwxyzABCDEF"  # 32 characters, as Django's cookie holds
# The console stream's token comes with the signed cookie it was minted for (live.console).
CONSOLE_COOKIE = signing.get_cookie_signer(salt=console.SALT).sign("t" * 22).encode()
token = st.text(alphabet="!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1)
# Header values as HTTP servers pass them on: visible ASCII, spaces, obs-text (0x80-0xFF).
header_value = st.binary(max_size=200).map(
    lambda raw: bytes(b for b in raw if b == 0x20 or 0x21 <= b <= 0x7E or b >= 0x80)
)
# Numbers around every bound the views check, and text that is no number. Valid waits stay
# tiny: /compare/block/?ms=5000 would block for 5 s and prove nothing more than ms=3.
number = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([99, 100, 101, 1000, 5001, 2**31, 2**63, 10**30, -(2**63)]),
    st.integers(max_value=-1),
    st.integers(min_value=5001),
).map(str)
param_value = st.one_of(
    number,
    st.text(max_size=40),
    st.sampled_from(["", " ", "1.5", "1e3", "0x10", "NaN", "inf", "-0", "١٢", "𝟝", "+3", " 4 "]),
    st.sampled_from(list(PRESETS)),
)
# Query strings as bytes, as a server hands them over: any byte a request line can carry.
query_byte = st.integers(0x21, 0xFF).filter(lambda b: b != ord("#")).map(lambda b: bytes([b]))
raw_query = st.lists(query_byte, max_size=60).map(b"".join)
structured_query = st.lists(
    st.tuples(st.one_of(st.sampled_from(PARAMS), st.text(max_size=10)), param_value), max_size=4
).map(lambda pairs: urlencode(pairs).encode())
query = st.one_of(structured_query, raw_query)

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
lab_run = st.fixed_dictionaries(
    {},
    optional={
        "preset": st.one_of(st.sampled_from(list(PRESETS)), json_value),
        "concurrency": st.one_of(st.integers(-3, 60), json_value),
    },
)
valid_lab_run = st.fixed_dictionaries(
    {"preset": st.sampled_from(list(PRESETS)), "concurrency": st.integers(1, 3)}
)
# json.dumps writes NaN and Infinity as bare words, which strict JSON parsers reject: good.
body = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    json_value.map(lambda v: json.dumps(v).encode()),
    lab_run.map(lambda v: json.dumps(v).encode()),
    valid_lab_run.map(lambda v: json.dumps(v).encode()),
)


@st.composite
def requests(draw: st.DrawFn, path: str) -> dict[str, Any]:
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADERS), header_value), max_size=5))
    if draw(st.booleans()):  # a browser's CSRF pair, so POSTs reach the views behind CSRF
        headers += [("cookie", b"csrftoken=" + CSRF_SECRET), ("x-csrftoken", CSRF_SECRET)]
    payload = draw(body)
    if payload and draw(st.booleans()):  # a declared length, or chunked (none)
        headers.append(("content-length", str(len(payload)).encode()))
    return {
        "method": draw(
            st.one_of(st.sampled_from(["GET", "POST"]), st.sampled_from(METHODS), token)
        ),
        "path": path,
        "query": draw(query),
        "headers": [(name.encode(), value) for name, value in headers],
        "body": payload,
        "chunks": draw(st.integers(1, 3)),
    }


# A POST that must pass CSRF, JSON validation and the method check at once is rare among
# generated requests; hypothesis also runs this one, so the view's work is reached every time.
WELL_FORMED = {
    "/lab/run/": {
        "method": "POST",
        "path": "/lab/run/",
        "query": b"",
        "headers": [(b"cookie", b"csrftoken=" + CSRF_SECRET), (b"x-csrftoken", CSRF_SECRET)],
        "body": json.dumps({"preset": next(iter(PRESETS)), "concurrency": 2}).encode(),
        "chunks": 1,
    },
    "/console/events/": {
        "method": "GET",
        "path": "/console/events/",
        "query": b"session=" + b"t" * 22,
        "headers": [(b"cookie", b"hello_async_console=" + CONSOLE_COOKIE)],
        "body": b"",
        "chunks": 1,
    },
}

# --- one request through the ASGI application ------------------------------------------------


async def asend(request: dict[str, Any]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request["method"],
        "scheme": "http",
        "path": request["path"],
        "raw_path": request["path"].encode(),
        "query_string": request["query"],
        "root_path": "",
        "headers": [(b"host", b"localhost"), *request["headers"]],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    payload: bytes = request["body"]
    size = -(-len(payload) // request["chunks"]) or 1
    messages = [
        {"type": "http.request", "body": payload[i : i + size], "more_body": True}
        for i in range(0, max(len(payload), 1), size)
    ]
    messages[-1]["more_body"] = False
    finished = asyncio.Event()
    status: list[int] = []
    content: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await finished.wait()  # the client stays until the answer is complete
        return {"type": "http.disconnect"}

    streaming: list[bool] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            headers = dict(message.get("headers", []))
            streaming.append(headers.get(b"Content-Type", b"").startswith(b"text/event-stream"))
        elif message["type"] == "http.response.body":
            content.append(message.get("body", b""))
            # An event stream does not end by itself: once it has begun, the client leaves.
            if not message.get("more_body", False) or streaming[-1]:
                finished.set()

    await asyncio.wait_for(application(scope, receive, send), timeout=30)  # type: ignore[arg-type]
    assert status, f"no response to {request}"
    return status[0], b"".join(content)


# --- the serving process, once per test ------------------------------------------------------


class InstantHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def instant_upstream() -> Iterator[str]:
    """A loopback HTTP server answering every GET at once (for client_per_call's own clients)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), InstantHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def check_endpoint(
    path: str,
    examples: int,
    fake_upstream: FakeUpstream,
    instant_upstream: str,
) -> None:
    if path == "/compare/client_per_call/":
        client = upstream.Upstream(base_url=instant_upstream)
    else:
        client = fake_upstream.install()
    seen: dict[int, int] = {}
    with (
        using_upstream(client),
        using_owner(background.BackgroundWork()),
        asyncio.Runner() as loop,
    ):
        loop.run(lifespan.astartup())
        try:
            run_examples(loop.run, path, examples, seen)
        finally:
            loop.run(lifespan.ashutdown())
    # Some generated requests got past validation: the generator reaches the views' work.
    assert any(status < 400 for status in seen), seen


def run_examples(run: Callable[[Any], Any], path: str, examples: int, seen: dict[int, int]) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=requests(path))
    def prop(request: dict[str, Any]) -> None:
        status, content = run(asend(request))
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, f"{status} for {request}: {content[:300]!r}"
        if status == 400:
            assert content.strip(), f"a 400 without a message for {request}"

    if path in WELL_FORMED:
        prop = example(request=WELL_FORMED[path])(prop)
    prop()


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_lab")]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_input_makes_a_5xx(
    path: str, fake_upstream: FakeUpstream, instant_upstream: str, time_scale
) -> None:
    time_scale(0)
    check_endpoint(path, EXAMPLES, fake_upstream, instant_upstream)


@pytest.mark.long
@pytest.mark.timeout(3600)
@pytest.mark.skipif(os.environ.get("HELLO_ASYNC_LONG") != "1", reason="HELLO_ASYNC_LONG=1 runs it")
@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_input_makes_a_5xx_long(
    path: str, fake_upstream: FakeUpstream, instant_upstream: str, time_scale
) -> None:
    time_scale(0)
    check_endpoint(path, LONG_EXAMPLES, fake_upstream, instant_upstream)


def test_every_endpoint_is_covered() -> None:
    assert {"/", "/async/", "/sync/", "/smoke_runs/", "/healthz", "/readyz", "/metrics"} <= set(
        ENDPOINTS
    )
    assert any(path.startswith("/compare/") for path in ENDPOINTS)
