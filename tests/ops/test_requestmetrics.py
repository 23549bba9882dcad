"""The request metrics in process (hello_async.ops.requestmetrics, kept by the ASGI door,
hello_async.ops.door): labels by URL pattern, bounded methods, the status sent, counted before the
answer's last message."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from hello_async import asgi
from hello_async.ops.door import Door
from hello_async.ops.requestmetrics import RequestMetrics
from hello_async.web.asgi_types import Message, Receive, Scope, Send
from tests.support.servers import http_scope


def exposition(metrics: RequestMetrics) -> str:
    registry = CollectorRegistry()
    registry.register(metrics)
    return generate_latest(registry).decode()


def count(text: str, method: str, route: str, status: int) -> float:
    prefix = (
        f'hello_async_http_requests_total{{method="{method}",route="{route}",status="{status}"}} '
    )
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def duration_count(text: str, method: str, route: str) -> float:
    prefix = (
        f'hello_async_http_request_duration_seconds_count{{method="{method}",route="{route}"}} '
    )
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


@pytest.fixture
def metrics() -> RequestMetrics:
    return RequestMetrics()


def client(metrics: RequestMetrics) -> httpx.AsyncClient:
    # The project's application, its door given this test's metrics.
    wrapped = Door(asgi.django_application, gates=asgi.gates, metrics=metrics)
    transport = httpx.ASGITransport(app=wrapped)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_requests_are_labelled_by_url_pattern_never_by_path(
    serving, metrics: RequestMetrics
) -> None:
    async with client(metrics) as http:
        for _ in range(3):
            assert (await http.get("/")).status_code == 200
        assert (await http.get("/smoke_orders/no-such-order/")).status_code == 404
        assert (await http.get("/smoke_orders/another-one/")).status_code == 404
        assert (await http.get("/no/such/page/")).status_code == 404
        assert (await http.get("/smoke_orders/board/")).status_code == 200
    text = exposition(metrics)
    assert count(text, "GET", "/", 200) == 3
    assert duration_count(text, "GET", "/") == 3
    # The view answered 404 for an order it does not have: the pattern matched.
    assert count(text, "GET", "/smoke_orders/<str:id>/", 404) == 2
    assert count(text, "GET", "unmatched", 404) == 1
    assert count(text, "GET", "/smoke_orders/board/", 200) == 1
    assert "no-such-order" not in text and "/no/such/page/" not in text


@pytest.mark.asyncio
async def test_methods_are_bounded_and_answers_before_django_count_unmatched(
    serving, metrics: RequestMetrics
) -> None:
    async with client(metrics) as http:
        # 405 from the view; 403 from CSRF's middleware without the fast path's lean chain.
        refused = (await http.request("BREW", "/")).status_code
        assert refused in (403, 405)
        assert (await http.request("BREW-ANOTHER", "/")).status_code == refused
        too_big = await http.post("/smoke_runs/", content=b"x" * (10 * 1024 * 1024))
        assert too_big.status_code == 413
    text = exposition(metrics)
    assert count(text, "other", "/", refused) == 2  # the pattern was resolved either way
    assert "BREW" not in text
    assert count(text, "POST", "unmatched", 413) == 1  # the body limit answered, not Django


async def run(app: object, metrics: RequestMetrics) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    wrapped = Door(app, metrics=metrics)  # type: ignore[arg-type]
    await wrapped(http_scope("/"), receive, send)
    return sent


@pytest.mark.asyncio
async def test_a_request_is_counted_before_its_last_message_is_sent(
    metrics: RequestMetrics,
) -> None:
    counted_when_sent: list[float] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        counted_when_sent.append(count(exposition(metrics), "GET", "unmatched", 201))
        await send({"type": "http.response.body", "body": b"b"})

    async def watching_send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            counted_when_sent.append(count(exposition(metrics), "GET", "unmatched", 201))

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    wrapped = Door(app, metrics=metrics)
    await wrapped(http_scope("/"), receive, watching_send)
    assert counted_when_sent == [0, 1]  # not at the first piece; by the last one
    assert count(exposition(metrics), "GET", "unmatched", 201) == 1  # once


@pytest.mark.asyncio
async def test_an_application_error_counts_500_and_a_client_gone_499(
    metrics: RequestMetrics,
) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def left(scope: Scope, receive: Receive, send: Send) -> None:
        raise asyncio.CancelledError  # what the server does when the client goes away

    with pytest.raises(RuntimeError):
        await run(failing, metrics)
    with pytest.raises(asyncio.CancelledError):
        await run(left, metrics)
    text = exposition(metrics)
    assert count(text, "GET", "unmatched", 500) == 1
    assert count(text, "GET", "unmatched", 499) == 1


@pytest.mark.asyncio
async def test_shared_metrics_write_prometheus_client_objects_and_count_in_flight() -> None:
    shared = RequestMetrics(shared=True)
    assert shared.in_flight is not None and shared.shared is not None
    registry = CollectorRegistry()
    for collector in (shared.in_flight, *shared.shared):
        registry.register(collector)
    seen_in_flight: list[float | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen_in_flight.append(registry.get_sample_value("hello_async_requests_in_flight"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await run(app, shared)
    await run(app, shared)
    assert seen_in_flight == [1, 1]
    assert registry.get_sample_value("hello_async_requests_in_flight") == 0
    text = generate_latest(registry).decode()
    assert count(text, "GET", "unmatched", 200) == 2
    assert duration_count(text, "GET", "unmatched") == 2
