from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hello_async.asgi import application
from hello_async.web.asgi_types import Message, Receive, Scope, Send
from hello_async.web.limits import BodyLimitMiddleware


class Recorder:
    """An inner app that reads the body as Django does (to the end, or to a disconnect)."""

    def __init__(self) -> None:
        self.calls = 0
        self.body = b""
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read %d" % len(self.body)})


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")  # type: ignore[arg-type]


async def chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * size


@pytest.mark.asyncio
async def test_declared_length_over_the_limit_gets_413_without_calling_the_app() -> None:
    inner = Recorder()
    async with client(BodyLimitMiddleware(inner, max_bytes=100)) as http:
        response = await http.post("/upload", content=b"x" * 101)
    assert response.status_code == 413
    assert response.text == "Request body too large: the limit is 100 bytes.\n"
    assert response.headers["connection"] == "close"
    assert inner.calls == 0


@pytest.mark.asyncio
async def test_body_at_the_limit_passes_whole() -> None:
    inner = Recorder()
    async with client(BodyLimitMiddleware(inner, max_bytes=100)) as http:
        response = await http.post("/upload", content=b"x" * 100)
    assert response.status_code == 200
    assert inner.body == b"x" * 100


@pytest.mark.asyncio
async def test_streamed_body_over_the_limit_is_cut_before_the_app_sees_the_crossing_chunk() -> None:
    inner = Recorder()
    async with client(BodyLimitMiddleware(inner, max_bytes=100)) as http:
        response = await http.post("/upload", content=chunks(5, 30))  # chunked, no length
    assert response.status_code == 413
    assert inner.disconnected
    assert len(inner.body) <= 100  # the chunk that crossed the limit never reached the app


@pytest.mark.asyncio
async def test_streamed_body_under_the_limit_passes() -> None:
    inner = Recorder()
    async with client(BodyLimitMiddleware(inner, max_bytes=100)) as http:
        response = await http.post("/upload", content=chunks(3, 30))
    assert response.status_code == 200
    assert response.text == "read 90"


@pytest.mark.asyncio
async def test_unusable_content_length_gets_400() -> None:
    inner = Recorder()
    app = BodyLimitMiddleware(inner, max_bytes=100)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-length", b"1e3")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert inner.calls == 0


def _streamed(http_version: str, headers: list[tuple[bytes, bytes]]) -> tuple[Scope, Receive]:
    chunks_left = [b"x" * 60, b"x" * 60]

    async def receive() -> Message:
        body = chunks_left.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks_left)}

    scope: Scope = {"type": "http", "http_version": http_version, "method": "POST", "path": "/"}
    scope["headers"] = headers
    return scope, receive


@pytest.mark.asyncio
async def test_an_http1_request_without_transfer_encoding_reaches_the_app_unwrapped() -> None:
    """Its body is its Content-Length (within the limit) or nothing: there is nothing to count."""
    seen: list[tuple[Receive, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((receive, send))

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    for headers in ([], [(b"content-length", b"100")]):
        scope = {"type": "http", "http_version": "1.1", "method": "GET", "headers": headers}
        await BodyLimitMiddleware(inner, max_bytes=100)(scope, receive, send)
    assert seen == [(receive, send), (receive, send)]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("http_version", "headers"),
    [("1.1", [(b"transfer-encoding", b"chunked")]), ("2", [])],
)
async def test_a_body_without_declared_length_is_still_counted(
    http_version: str, headers: list[tuple[bytes, bytes]]
) -> None:
    inner = Recorder()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope, receive = _streamed(http_version, headers)
    await BodyLimitMiddleware(inner, max_bytes=100)(scope, receive, send)
    assert inner.disconnected
    assert sent[0]["status"] == 413


@pytest.mark.asyncio
async def test_other_scopes_pass_through_untouched() -> None:
    seen: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def never() -> Message:
        raise AssertionError("not called")

    async def nowhere(message: Message) -> None:
        raise AssertionError("not called")

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await BodyLimitMiddleware(inner, max_bytes=0)(scope, never, nowhere)
    assert seen == [scope]


# --- the project's application: the wrapper sits in front of Django ------------------------


@pytest.mark.asyncio
async def test_project_rejects_a_large_streamed_body_before_any_view(settings) -> None:
    settings.HELLO_ASYNC_MAX_BODY_BYTES = 1000
    async with client(application) as http:
        small = await http.post("/", content=b"x" * 10)
        large = await http.post("/", content=chunks(10, 200))
    assert small.status_code in {403, 405}  # Django ran: CSRF or the view's method check
    assert large.status_code == 413  # Django's middleware and the view never ran
    assert large.text == "Request body too large: the limit is 1000 bytes.\n"


@pytest.mark.asyncio
async def test_query_string_that_is_not_utf8_gets_400_saying_so() -> None:
    """Django's own answer is a 400 with an empty body (found by tests/system/test_bad_input.py)."""
    inner = Recorder()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"a=\x80", "headers": []}
    await BodyLimitMiddleware(inner, max_bytes=100)(scope, receive, send)
    assert sent[0]["status"] == 400
    assert sent[1]["body"] == b"The query string is not valid UTF-8.\n"
    assert inner.calls == 0
