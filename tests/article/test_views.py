from __future__ import annotations

import logging
import time

import httpx
import pytest
from django.test import AsyncClient, Client

from hello_async.article import kitchen
from tests.conftest import FakeUpstream
from tests.support.parts import using_upstream


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The kitchen's lines, as the console prints them (a record may hold several)."""
    kitchen = "hello_async.article.kitchen"
    records = [r for r in caplog.records if r.name.startswith(kitchen)]
    return [line for r in records for line in r.getMessage().split("\n")]


@pytest.mark.asyncio
async def test_index_body(serving: object) -> None:
    response = await AsyncClient().get("/")
    assert response.status_code == 200
    assert response.content == b"Hello, async Django!"
    assert response["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.asyncio
async def test_index_rejects_post(serving: object) -> None:
    response = await AsyncClient().post("/")
    assert response.status_code == 405


@pytest.mark.asyncio
async def test_async_view_answers_before_its_background_work_then_finishes_it(
    serving, fake_upstream: FakeUpstream, time_scale, caplog: pytest.LogCaptureFixture
) -> None:
    time_scale(0.05)  # 5 ticks of 50 ms
    caplog.set_level(logging.INFO, logger="hello_async")

    response = await AsyncClient().get("/async/")

    assert response.content == b"Non-blocking HTTP request"
    assert serving.counts().pending == 1
    assert serving.counts().done == 0
    assert fake_upstream.requests == []
    await serving.await_idle()
    assert serving.counts().done == 1
    assert len(fake_upstream.requests) == 1
    assert messages(caplog) == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]


@pytest.mark.asyncio
async def test_sync_to_async_view_runs_the_sync_helper_in_a_thread_after_answering(
    serving, fake_upstream: FakeUpstream, time_scale, caplog: pytest.LogCaptureFixture
) -> None:
    time_scale(0.05)
    caplog.set_level(logging.INFO, logger="hello_async")

    response = await AsyncClient().get("/sync_to_async/")

    assert response.content == b"Non-blocking HTTP request (via sync_to_async)"
    assert serving.counts().pending == 1
    await serving.await_idle()
    assert serving.counts().as_dict() == {"pending": 0, "done": 1, "failed": 0, "cancelled": 0}
    assert len(fake_upstream.requests) == 1
    threads = {r.threadName for r in caplog.records if r.name == "hello_async.article.kitchen"}
    assert "MainThread" not in threads
    assert messages(caplog)[-1] == "<Response [200 OK]>"


def test_sync_view_does_the_work_before_answering(
    fake_upstream: FakeUpstream, time_scale, caplog: pytest.LogCaptureFixture
) -> None:
    time_scale(0.01)
    caplog.set_level(logging.INFO, logger="hello_async")

    response = Client().get("/sync/")

    assert response.content == b"Blocking HTTP request"
    assert messages(caplog) == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]
    assert len(fake_upstream.requests) == 1


@pytest.mark.asyncio
async def test_smoke_some_meats_gathers_its_two_branches(
    serving, fake_upstream: FakeUpstream, time_scale, caplog: pytest.LogCaptureFixture
) -> None:
    scale = 0.5  # branches of 1.0 s and 0.5 s: sequential would take 1.5 s
    time_scale(scale)
    caplog.set_level(logging.INFO, logger="hello_async")

    started = time.monotonic()
    response = await AsyncClient().get("/smoke_some_meats/")
    elapsed = time.monotonic() - started

    body = response.content.decode()
    assert response.status_code == 200
    assert body in {f"Smoked 6 meats with {flavor}!" for flavor in kitchen.FLAVORS}
    log = messages(caplog)
    # The concurrency shape: the flavor (shorter wait) returns before the smokables.
    assert log[:4] == [
        "Getting smokeables...",
        "Getting flavor...",
        "Returning flavor",
        "Returning smokeable",
    ]
    flavor = body.removeprefix("Smoked 6 meats with ").removesuffix("!")
    assert log[4:7] == ["Smoking some ribs...", f"Applying the {flavor}...", "Ribs smoked."]
    assert len(log) == 4 + 3 * len(kitchen.SMOKABLES)
    assert len(fake_upstream.requests) == 2
    assert elapsed < (kitchen.SMOKABLES_SECONDS + kitchen.FLAVOR_SECONDS) * scale


@pytest.mark.asyncio
async def test_burn_some_meats_burns_while_the_lab_is_on(
    serving, settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.HELLO_ASYNC_LAB = True
    caplog.set_level(logging.INFO, logger="hello_async")
    response = await AsyncClient().get("/burn_some_meats/")
    assert response.status_code == 200
    assert response.content == b"Burned some meats."
    assert messages(caplog)[-1] == "Who doesn't love burnt meats?"


@pytest.mark.asyncio
async def test_burn_some_meats_is_404_while_the_lab_is_off(
    serving, settings, caplog: pytest.LogCaptureFixture
) -> None:
    """As a URL that does not exist: no 405 for another method, no redirect to the slash."""
    settings.HELLO_ASYNC_LAB = False
    caplog.set_level(logging.INFO, logger="hello_async")
    client = AsyncClient()
    assert (await client.get("/burn_some_meats/")).status_code == 404
    assert (await client.post("/burn_some_meats/")).status_code == 404
    assert (await client.get("/burn_some_meats")).status_code == 404
    assert messages(caplog) == []  # nothing burned
    settings.HELLO_ASYNC_LAB = True
    assert (await client.get("/burn_some_meats/")).status_code == 200


# --- background work is bounded ------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/async/", "/sync_to_async/"])
async def test_past_the_bound_the_views_answer_503_with_retry_after_and_start_nothing(
    serving, fake_upstream: FakeUpstream, time_scale, path: str
) -> None:
    time_scale(0.05)
    serving.max_pending = 1
    assert (await AsyncClient().get(path)).status_code == 200

    refused = await AsyncClient().get(path)

    assert refused.status_code == 503
    assert int(refused["Retry-After"]) > 0
    assert refused.content == b"Too much background work pending (1); try again shortly.\n"
    assert serving.counts().pending == 1 and serving.refused() == 1
    await serving.await_idle()
    assert serving.counts().done == 1
    assert len(fake_upstream.requests) == 1  # the refused request's work never ran
    assert (await AsyncClient().get(path)).status_code == 200  # room again


@pytest.mark.asyncio
async def test_sync_to_async_work_runs_in_the_owners_threads(
    serving, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """Not in the loop's default pool, which DNS, to_thread and the shutdown need."""
    caplog.set_level(logging.INFO, logger="hello_async")
    await AsyncClient().get("/sync_to_async/")
    await serving.await_idle()
    threads = {r.threadName for r in caplog.records if r.name == "hello_async.article.kitchen"}
    assert threads and all(name.startswith("hello-async-work") for name in threads)


# --- where the event loop ends with the response -------------------------------------------


def test_async_view_under_the_sync_client_still_finishes_its_work(
    fake_upstream: FakeUpstream, owner, time_scale, caplog: pytest.LogCaptureFixture
) -> None:
    """Django's sync client runs the view on a one-off loop, as WSGI and runserver do."""
    time_scale(0.01)
    caplog.set_level(logging.INFO, logger="hello_async")

    response = Client().get("/async/")

    assert response.content == b"Non-blocking HTTP request"
    assert owner.wait_idle(timeout=10)
    assert owner.counts().done == 1
    assert len(fake_upstream.requests) == 1
    assert any("background thread's loop" in r.getMessage() for r in caplog.records)


# --- upstream failures ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_upstream_500_gives_502_naming_the_cause(
    serving, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.handler = lambda request: httpx.Response(500)
    response = await AsyncClient().get("/smoke_some_meats/")
    assert response.status_code == 502
    assert response.content.decode().startswith("Upstream answered 500 Internal Server Error")
    assert response.content.count(b"\n") == 1


def test_sync_view_upstream_500_gives_502(fake_upstream: FakeUpstream) -> None:
    fake_upstream.handler = lambda request: httpx.Response(503)
    response = Client().get("/sync/")
    assert response.status_code == 502
    assert b"Upstream answered 503" in response.content


@pytest.mark.asyncio
async def test_upstream_refusing_gives_502(serving, unused_tcp_port: int) -> None:
    from hello_async import upstream

    refusing = upstream.Upstream(base_url=f"http://127.0.0.1:{unused_tcp_port}")
    with using_upstream(refusing):
        response = await AsyncClient().get("/smoke_some_meats/")
    assert response.status_code == 502
    assert response.content.decode().startswith("Upstream refused the connection")


@pytest.mark.asyncio
async def test_background_failure_is_logged_and_counted(
    serving, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    fake_upstream.handler = lambda request: httpx.Response(500)
    await AsyncClient().get("/async/")
    await serving.await_idle()
    assert serving.counts().failed == 1
    failure = [
        r for r in caplog.records if r.getMessage() == "Background task 'http_call_async' failed"
    ]
    assert failure and failure[0].exc_info is not None
    assert "Upstream answered 500" in str(failure[0].exc_info[1])
