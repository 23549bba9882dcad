"""The ASGI door (hello_async.ops.door): a request no gate has anything to do with goes straight to
the handler; any other goes through every gate, outermost first; and each real gate's
``passes()`` says so only for a request it would hand on untouched."""

from __future__ import annotations

from typing import Any

import pytest

from hello_async.live.console import HEADER, ConsoleMiddleware
from hello_async.logs import context
from hello_async.ops.door import Door
from hello_async.ops.inflight import InFlightTable
from hello_async.ops.requestmetrics import SCOPE_KEY, RequestMetrics
from hello_async.web.asgi_types import ASGIApp, Message, Receive, Scope, Send
from hello_async.web.limits import BodyLimitMiddleware
from hello_async.web.loopback import LoopbackOnlyMiddleware
from tests.support.servers import http_scope


class Recorder:
    """A gate that records its calls, and passes what it is told to pass."""

    def __init__(self, app: ASGIApp, name: str, log: list[str], refuses: str) -> None:
        self.app, self.name, self.log, self.refuses = app, name, log, refuses

    def passes(self, scope: Scope) -> bool:
        return self.refuses not in scope["path"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.log.append(self.name)
        await self.app(scope, receive, send)


async def _nothing() -> Message:
    return {"type": "http.request", "body": b""}


async def _drop(message: Message) -> None:
    return None


def _door(log: list[str], seen: list[Any]) -> Door:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["type"], scope.get(SCOPE_KEY), context.request_id.get()))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    def gate(name: str) -> Any:
        return lambda inner: Recorder(inner, name, log, refuses=name)

    return Door(app, gates=[gate("outer"), gate("inner")], metrics=RequestMetrics())


@pytest.mark.asyncio
async def test_a_request_every_gate_passes_skips_them_all() -> None:
    log: list[str] = []
    seen: list[Any] = []
    await _door(log, seen)(http_scope("/"), _nothing, _drop)
    assert log == []
    assert len(seen) == 1 and seen[0][1] is not None and seen[0][2] is not None


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/outer/", "/inner/"])
async def test_a_request_one_gate_must_see_goes_through_all_in_order(path: str) -> None:
    log: list[str] = []
    seen: list[Any] = []
    await _door(log, seen)(http_scope(path), _nothing, _drop)
    assert log == ["outer", "inner"]
    assert len(seen) == 1


@pytest.mark.asyncio
async def test_other_scopes_go_through_the_gates_without_the_bookkeeping() -> None:
    log: list[str] = []
    seen: list[Any] = []
    await _door(log, seen)({"type": "lifespan"}, _nothing, _drop)
    assert log == ["outer", "inner"]
    assert seen == [("lifespan", None, None)]


@pytest.mark.asyncio
async def test_the_request_is_in_flight_while_it_runs_and_counted_once() -> None:
    table = InFlightTable()
    metrics = RequestMetrics()
    during: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        during.append(len(table))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = http_scope("/")
    await Door(app, metrics=metrics, table=table)(scope, _nothing, _drop)
    assert during == [1] and len(table) == 0
    assert SCOPE_KEY not in scope
    assert [key[2] for key in metrics._tallies] == [204]


# --- each real gate's passes(): only for a request it hands on untouched -----------------------


def _scope(**changes: Any) -> dict[str, Any]:
    scope = http_scope("/")
    headers = list(scope["headers"])  # type: ignore[call-overload]
    headers.extend(changes.pop("headers", []))
    scope.update(headers=headers, **changes)
    return scope


SCOPES = [
    _scope(),
    _scope(method="POST", headers=[(b"content-length", b"10")]),
    _scope(method="POST", headers=[(b"content-length", b"101")]),
    _scope(method="POST", headers=[(b"content-length", b"10"), (b"content-length", b"11")]),
    _scope(method="POST", headers=[(b"content-length", b"ten")]),
    _scope(method="POST", headers=[(b"transfer-encoding", b"chunked")]),
    _scope(http_version="2", method="POST", headers=[(b"content-length", b"10")]),
    _scope(query_string=b"a=\x80"),
    _scope(headers=[(HEADER, b"a-token")]),
    _scope(client=("192.0.2.2", 5000)),
    _scope(client=("::ffff:127.0.0.1", 5000)),
    _scope(client=None),
]

GATES = {
    "console": ConsoleMiddleware,
    "body limit": lambda app: BodyLimitMiddleware(app, max_bytes=100),
    "loopback": LoopbackOnlyMiddleware,
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", GATES)
@pytest.mark.parametrize("index", range(len(SCOPES)))
async def test_passes_only_what_the_gate_hands_on_untouched(name: str, index: int) -> None:
    handed: list[tuple[Any, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        handed.append((receive, send))

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    gate = GATES[name](app)
    scope = SCOPES[index]
    untouched = [(_nothing, send)]
    await gate(dict(scope), _nothing, send)
    if gate.passes(scope):
        assert handed == untouched and sent == []
    else:
        assert handed != untouched or sent != []
