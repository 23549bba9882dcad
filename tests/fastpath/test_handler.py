"""The fast path's ASGI handler: proven to close DB
connections in the thread that used them while adding no thread to requests that need none."""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.db.backends.signals import connection_created
from django.http import HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse

from hello_async.fastpath.handler import FastASGIHandler, _UntilWaits
from hello_async.fastpath.signals import context_has_thread
from tests.support.servers import http_scope


@pytest.mark.asyncio
async def test_asgiref_makes_the_context_thread_only_on_first_sync_call() -> None:
    assert not context_has_thread()
    async with ThreadSensitiveContext():
        assert not context_has_thread()
        await sync_to_async(lambda: None)()
        assert context_has_thread()
    assert not context_has_thread()


@pytest_asyncio.fixture
async def client(serving: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=FastASGIHandler())
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


@pytest.fixture
def finished_in() -> Any:
    threads: list[tuple[int, bool]] = []

    def record(**kwargs: Any) -> None:
        threads.append((threading.get_ident(), context_has_thread()))

    signals.request_finished.connect(record)
    yield threads
    signals.request_finished.disconnect(record)


@pytest.mark.asyncio
async def test_a_request_without_sync_code_finishes_inline(
    client: httpx.AsyncClient, hops: list[str], inline_sends: list[tuple[Any, int]]
) -> None:
    response = await client.get("/")
    assert response.text == "Hello, async Django!"
    # Django's receivers (close_old_connections...) ran on the loop's thread: no thread made.
    loop = threading.get_ident()
    assert inline_sends == [(signals.request_started, loop), (signals.request_finished, loop)]
    assert hops == []


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_request_using_the_database_finishes_in_the_thread_that_used_it(
    client: httpx.AsyncClient, finished_in: list[tuple[int, bool]]
) -> None:
    opened_in: list[int] = []

    def record(connection: Any, **kwargs: Any) -> None:
        opened_in.append(threading.get_ident())

    connection_created.connect(record)
    try:
        response = await client.get("/smoke_runs/")
    finally:
        connection_created.disconnect(record)
    assert response.status_code == 200
    assert len(finished_in) == 1
    thread, had_thread = finished_in[0]
    assert had_thread
    assert thread in opened_in
    assert thread != threading.get_ident()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_connection_is_closed_after_the_request(client: httpx.AsyncClient) -> None:
    if connections["default"].vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database ignores close(); proven on PostgreSQL")
    state: list[bool] = []

    def record(**kwargs: Any) -> None:  # connected after Django's close_old_connections
        state.append(connections["default"].connection is None)

    signals.request_finished.connect(record)
    try:
        assert (await client.get("/smoke_runs/")).status_code == 200
    finally:
        signals.request_finished.disconnect(record)
    assert state == [True]


@pytest.mark.asyncio
async def test_append_slash_still_redirects(client: httpx.AsyncClient) -> None:
    response = await client.get("/async")
    assert response.status_code == 301
    assert response.headers["location"] == "/async/"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_admin_login_with_csrf_and_session(client: httpx.AsyncClient) -> None:
    from django.contrib.auth.models import User

    await sync_to_async(User.objects.create_superuser)("admin", "a@example.com", "s3cret-pass")
    page = await client.get("/admin/login/")
    assert page.status_code == 200
    assert "content-security-policy" in page.headers
    token = client.cookies["csrftoken"]

    transport = httpx.ASGITransport(app=FastASGIHandler())
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as bare:
        refused = await bare.post("/admin/login/", data={"username": "admin", "password": "x"})
    assert refused.status_code == 403  # no CSRF cookie nor token

    login = await client.post(
        "/admin/login/?next=/admin/",
        data={"username": "admin", "password": "s3cret-pass", "csrfmiddlewaretoken": token},
    )
    assert login.status_code == 302
    assert "sessionid" in client.cookies
    home = await client.get("/admin/")
    assert home.status_code == 200
    assert "Site administration" in home.text


@pytest.mark.asyncio
async def test_a_request_whose_client_left_finishes_inline(
    serving: Any, hops: list[str], inline_sends: list[tuple[Any, int]]
) -> None:
    messages: Iterator[dict[str, Any]] = iter(
        [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = http_scope("/compare/nonblock/", b"ms=5000")
    await FastASGIHandler()(scope, receive, send)
    assert sent == []  # the view was cancelled: nothing was answered
    loop = threading.get_ident()
    assert inline_sends == [(signals.request_started, loop), (signals.request_finished, loop)]
    assert hops == []


def test_lean_paths_take_the_lean_chain_and_the_rest_the_full_one() -> None:
    handler = FastASGIHandler()
    for path in ("/", "/async/", "/smoke_some_meats/", "/compare/gathered/", "/healthz"):
        assert handler.chain_for(path) is handler.lean, path
    for path in ("/admin/", "/lab/", "/smoke_orders/", "/static/admin/css/base.css", "/async"):
        assert handler.chain_for(path) is handler, path


@pytest.mark.asyncio
async def test_lean_chain_keeps_security_headers_and_error_mapping(
    client: httpx.AsyncClient, fake_upstream: Any
) -> None:
    hello = await client.get("/")
    assert hello.headers["x-content-type-options"] == "nosniff"
    assert hello.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in hello.headers  # plain text: no HTML to protect
    assert "set-cookie" not in hello.headers

    fake_upstream.handler = lambda request: httpx.Response(500)
    failed = await client.get("/smoke_some_meats/")
    assert failed.status_code == 502
    assert failed.text.startswith("Upstream answered 500")


@pytest.mark.asyncio
async def test_full_chain_pages_keep_csp_and_frame_options(client: httpx.AsyncClient) -> None:
    page = await client.get("/lab/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


# --- respond(): Django's TaskGroup semantics without the group ------------------------------------
#
# Each scenario runs on Django's own ASGIHandler and on ours, with the same scripted client and the
# same body (in place of the middleware chain): the outcomes must be the same. If Django changes
# how handle() races the view against listen_for_disconnect, the stock side changes and this fails.


class _Stock(ASGIHandler):
    def __init__(self, body: Any) -> None:
        super().__init__()
        self.body = body

    async def run_get_response(self, request: Any) -> Any:
        return await self.body()


class _Ours(FastASGIHandler):
    def __init__(self, body: Any) -> None:
        super().__init__()
        self.body = body

    def chain_for(self, path: str) -> Any:
        return self

    async def run_get_response(self, request: Any) -> Any:
        return await self.body()


def _scenario(name: str) -> tuple[Any, Any, list[str], asyncio.Event]:
    """(body, receive, events, started) for a scenario; events records what the body saw."""
    events: list[str] = []
    started = asyncio.Event()
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": b""}]
    if name in ("client_leaves", "left_while_it_answers"):
        messages.append({"type": "http.disconnect"})
    elif name == "unexpected_message":
        messages.append({"type": "http.request", "body": b"again"})

    async def receive() -> dict[str, Any]:
        if messages:
            await asyncio.sleep(0.01 if len(messages) == 1 and events else 0)
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays
        raise AssertionError("unreachable")

    async def body() -> Any:
        events.append("started")
        started.set()
        try:
            if name == "answers":
                return HttpResponse("hello")
            if name in ("answers_after_waits", "left_while_it_answers"):
                for _ in range(3):
                    await asyncio.sleep(0)  # the listener made now, and running
                events.append("answering")
                return HttpResponse("hello")
            if name == "raises_after_a_wait":
                await asyncio.sleep(0)
                raise ValueError("boom")
            if name == "raises":
                raise ValueError("boom")
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("cancelled")
            if name == "swallows_cancel":
                return HttpResponse("late")
            raise
        raise AssertionError("not cancelled")

    if name == "swallows_cancel":
        messages.append({"type": "http.disconnect"})
    return body, receive, events, started


SCENARIOS = [
    "answers",
    "answers_after_waits",
    "left_while_it_answers",
    "raises_after_a_wait",
    "client_leaves",
    "swallows_cancel",
    "unexpected_message",
    "raises",
    "cancelled_from_outside",
]


async def _outcome(handler_class: type, name: str) -> dict[str, Any]:
    body, receive, events, started = _scenario(name)
    sent: list[Any] = []
    finished: list[bool] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append((message["type"], message.get("status"), message.get("body")))

    def record(**kwargs: Any) -> None:
        finished.append(True)

    handler = handler_class(body)
    tasks_before = asyncio.all_tasks()
    signals.request_finished.connect(record)
    try:
        task = asyncio.create_task(handler(http_scope("/"), receive, send))
        if name == "cancelled_from_outside":
            await started.wait()
            task.cancel()
        try:
            await task
            error = None
        except BaseException as exc:  # noqa: BLE001 (the outcome under test)
            error = type(exc).__name__
        for _ in range(3):  # the listener, cancelled, ends on a later loop round
            await asyncio.sleep(0)
    finally:
        signals.request_finished.disconnect(record)
    return {
        "error": error,
        "events": events,
        "sent": sent,
        "finished": finished,
        "cancelling": task.cancelling(),
        "tasks_left": asyncio.all_tasks() - tasks_before - {asyncio.current_task()},
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("name", SCENARIOS)
async def test_respond_matches_djangos_task_group(serving: Any, name: str) -> None:
    stock = await _outcome(_Stock, name)
    ours = await _outcome(_Ours, name)
    assert ours == stock
    assert ours["tasks_left"] == set()


# --- read_body() and send_response(): Django's, without the spooled file and the header views ----


def _receiver(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


@pytest.mark.asyncio
async def test_a_request_without_a_body_gets_an_empty_stream_and_others_djangos_file() -> None:
    handler = FastASGIHandler()
    empty = await handler.read_body(_receiver({"type": "http.request", "body": b""}))
    assert type(empty) is io.BytesIO and empty.read() == b""

    # A body, whole or in pieces, goes to Django's spooled file, the first message included.
    with await handler.read_body(_receiver({"type": "http.request", "body": b"AB"})) as whole:
        assert isinstance(whole, tempfile.SpooledTemporaryFile) and whole.read() == b"AB"
    pieces = _receiver(
        {"type": "http.request", "body": b"A", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"B"},
    )
    with await handler.read_body(pieces) as read:
        assert read.read() == b"AB"

    with pytest.raises(RequestAborted):
        await handler.read_body(_receiver({"type": "http.disconnect"}))
    with pytest.raises(RequestAborted):
        await handler.read_body(
            _receiver({"type": "http.request", "body": b"A", "more_body": True}, DISCONNECT)
        )


DISCONNECT = {"type": "http.disconnect"}


class _Items(HttpResponse):
    def items(self) -> Any:  # a subclass's own headers: Django's send_response asks items()
        return [*super().items(), ("X-Extra", "1")]


async def _pieces() -> AsyncIterator[bytes]:
    yield b"a"
    yield b"b"


def _responses() -> list[HttpResponseBase]:
    cookie = HttpResponse("with a cookie", content_type="text/plain; charset=utf-8")
    cookie.set_cookie("a", "b", httponly=True, samesite="Strict")
    cookie.headers["X-Latin"] = "caf\u00e9"
    big = HttpResponse(b"x" * (ASGIHandler.chunk_size * 2 + 5))
    return [
        HttpResponse("Hello, async Django!", content_type="text/plain; charset=utf-8"),
        HttpResponse(status=204),
        JsonResponse({"a": 1}, status=201),
        cookie,
        big,  # several messages: Django's chunks
        _Items("subclass"),
        StreamingHttpResponse(_pieces()),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("index", range(7))
async def test_send_response_sends_what_djangos_sends(index: int) -> None:
    sent: dict[str, list[Any]] = {}
    for name, handler in (("django", ASGIHandler()), ("ours", FastASGIHandler())):
        messages: list[Any] = []

        async def send(message: Any, messages: list[Any] = messages) -> None:
            messages.append(message)

        await handler.send_response(_responses()[index], send)
        sent[name] = messages
    assert sent["ours"] == sent["django"]
    assert len(sent["ours"]) >= 2


# --- _UntilWaits: the listener made when the body first waits ---------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("waits", [0, 1, 3])
async def test_until_waits_calls_on_wait_once_at_the_first_wait_only(waits: int) -> None:
    seen: list[str] = []

    async def body() -> str:
        seen.append("started")
        for _ in range(waits):
            await asyncio.sleep(0)
            seen.append("resumed")
        return "done"

    result = await _UntilWaits(body(), lambda: seen.append("on_wait"))
    assert result == "done"
    expected = ["started"] + (["on_wait"] if waits else []) + ["resumed"] * waits
    assert seen == expected


@pytest.mark.asyncio
async def test_until_waits_passes_errors_and_cancellation_through() -> None:
    async def fails_after_a_wait() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await _UntilWaits(fails_after_a_wait(), lambda: None)

    cleaned: list[str] = []
    entered = asyncio.Event()

    async def waits_long() -> None:
        try:
            entered.set()
            await asyncio.sleep(10)
        finally:
            cleaned.append("finally")

    async def awaiting() -> None:
        await _UntilWaits(waits_long(), lambda: None)

    task = asyncio.create_task(awaiting())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally"]

    async def swallows() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # waits again after the cancellation, then answers
            return "late"
        return "not cancelled"

    task = asyncio.create_task(_await(_UntilWaits(swallows(), lambda: None)))
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "late"


async def _await(awaitable: Any) -> Any:
    return await awaitable


def test_until_waits_closes_the_body_when_it_is_closed() -> None:
    cleaned: list[str] = []

    class Pending:
        def __await__(self) -> Any:
            yield "a future"

    async def body() -> None:
        try:
            await Pending()
        finally:
            cleaned.append("finally")

    async def awaiting() -> None:
        await _UntilWaits(body(), lambda: None)

    outer = awaiting()
    assert outer.send(None) == "a future"  # the body's first wait, out to whoever drives it
    outer.close()  # as a task destroyed while pending closes its coroutine
    assert cleaned == ["finally"]


@pytest.mark.asyncio
async def test_until_waits_throws_in_as_await_does_not_from_inside_a_handler() -> None:
    """After catching the cancellation, the body sees no exception being handled, as with a
    plain ``await``: no stray ``__context__`` on its own errors, no ``sys.exc_info()``."""

    async def body(entered: asyncio.Event) -> Any:
        entered.set()
        try:  # noqa: SIM105 (the handler is the point)
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass
        return sys.exc_info()[0]

    async def run(wrap: Any) -> Any:
        entered = asyncio.Event()
        task = asyncio.create_task(_await(wrap(body(entered))))
        await entered.wait()
        task.cancel()
        return await task

    assert await run(lambda coro: coro) is None
    assert await run(lambda coro: _UntilWaits(coro, lambda: None)) is None
