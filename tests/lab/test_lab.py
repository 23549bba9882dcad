from __future__ import annotations

import asyncio
import gettext
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.test import AsyncClient, Client, RequestFactory

from hello_async.lab import runner
from hello_async.lab.presets import MAX_CONCURRENCY, PRESETS
from hello_async.lab.runner import Lab, SideResult, Target, Timing, percentile
from tests.conftest import FakeUpstream
from tests.support.parts import using_lab

LOCALE = Path(__file__).resolve().parents[2] / "hello_async" / "locale"
TARGET = Target(base_url="http://127.0.0.1:8000", headers={"Host": "lab.test"})


@pytest.fixture
def answered() -> Iterator[list[httpx.Request]]:
    """A lab whose requests are answered 200 at the transport; yields the requests it sent."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    with using_lab(Lab(transport=lambda limits: httpx.MockTransport(handle))):
        yield seen


def run_json(client: Client, body: object, **extra: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/lab/run/", raw, content_type="application/json", **extra)


# --- statistics -------------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([], 50) is None


def test_side_result_span_rps_and_latencies() -> None:
    side = PRESETS["sync_vs_async"].a
    timings = [
        Timing(start=0.0, end=0.5, status=200),
        Timing(start=0.1, end=1.0, status=200),
        Timing(start=0.2, end=0.3, status=500),
        Timing(start=0.3, end=None),
    ]
    result = SideResult(side=side, timings=timings)
    assert result.span == pytest.approx(1.0)
    assert result.rps == pytest.approx(2.0)  # two successes in one second
    assert result.latency_percentile(50) == pytest.approx(0.5)
    assert result.latency_percentile(99) == pytest.approx(0.9)
    data = result.as_json()
    assert (data["fired"], data["finished"], data["errors"]) == (4, 3, 1)
    assert data["span_ms"] == pytest.approx(1000.0)
    assert data["requests"][3] == {"start_ms": 300.0, "end_ms": None, "status": None}


def test_side_result_without_finished_requests_has_no_stats() -> None:
    result = SideResult(side=PRESETS["sync_vs_async"].b, timings=[Timing(start=0.0)])
    assert (result.span, result.rps, result.latency_percentile(50)) == (None, None, None)


# --- the runner, HTTP stubbed at the transport ------------------------------------------------


@pytest.mark.asyncio
async def test_run_fires_n_requests_per_side_at_the_presets_paths() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if "sync_call" in request.url.path else 200)

    lab = Lab(transport=lambda limits: httpx.MockTransport(handle))
    preset = PRESETS["sync_vs_async"]
    result = await lab.arun(preset=preset, concurrency=5, target=TARGET)

    assert not result.partial
    paths = [str(request.url.raw_path, "ascii") for request in seen]
    assert paths == [preset.a.path] * 5 + [preset.b.path] * 5  # side A, then side B
    assert {request.url.host for request in seen} == {"127.0.0.1"}
    assert {request.headers["host"] for request in seen} == {"lab.test"}
    a, b = result.as_json()["sides"]
    assert (a["fired"], a["errors"], a["rps"]) == (5, 5, 0.0)
    assert (b["fired"], b["errors"]) == (5, 0)
    assert all(r["end_ms"] >= r["start_ms"] >= 0 for r in a["requests"] + b["requests"])
    assert lab.status() == {"running": False}


@pytest.mark.asyncio
async def test_run_records_transport_errors_as_failed_requests() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    lab = Lab(transport=lambda limits: httpx.MockTransport(handle))
    result = await lab.arun(preset=PRESETS["sequential_vs_gathered"], concurrency=2, target=TARGET)
    side = result.as_json()["sides"][0]
    assert side["errors"] == 2
    assert side["requests"][0]["error"] == "ConnectError: refused"


@pytest.mark.asyncio
async def test_run_past_its_deadline_is_partial_and_cancels_what_is_left() -> None:
    never = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    lab = Lab(transport=lambda limits: httpx.MockTransport(handle), deadline=0.05)
    result = await lab.arun(preset=PRESETS["sync_vs_async"], concurrency=3, target=TARGET)

    assert result.partial
    a, b = result.as_json()["sides"]
    assert (a["fired"], a["finished"]) == (3, 0)
    assert all(r["end_ms"] is None for r in a["requests"])
    assert b["fired"] == 0  # no time was left for side B
    assert lab.status() == {"running": False}


@pytest.mark.asyncio
async def test_run_while_one_is_running_gets_409_and_status_shows_progress() -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        if "async_call" in request.url.path or "background_call" in request.url.path:
            return httpx.Response(200)
        arrived.set()
        await release.wait()
        return httpx.Response(200)

    with using_lab(Lab(transport=lambda limits: httpx.MockTransport(handle))) as lab:
        first = asyncio.create_task(
            lab.arun(preset=PRESETS["sync_vs_async"], concurrency=4, target=TARGET)
        )
        await arrived.wait()

        busy = await AsyncClient().post(
            "/lab/run/", {"preset": "sync_vs_async", "concurrency": 1}, "application/json"
        )
        assert busy.status_code == 409
        assert "already running" in busy.content.decode()
        status = (await AsyncClient().get("/lab/status/")).json()
        assert status["running"] is True
        assert status["preset"] == "sync_vs_async"
        assert status["done"] == {"a": 0, "b": 0}
        assert status["total"] == {"a": 4, "b": 4}

        release.set()
        result = await first
        assert not result.partial
        assert (await AsyncClient().get("/lab/status/")).json() == {"running": False}


@pytest.mark.asyncio
async def test_a_cancelled_run_frees_the_lab_and_cancels_its_requests() -> None:
    """A client that goes away cancels the view, and so the run: nothing stays held."""
    arrived = asyncio.Event()
    cancelled: list[str] = []
    hang = True

    async def handle(request: httpx.Request) -> httpx.Response:
        if not hang:
            return httpx.Response(200)
        arrived.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(request.url.path)
            raise
        raise AssertionError("unreachable")

    lab = Lab(transport=lambda limits: httpx.MockTransport(handle))
    run = asyncio.create_task(
        lab.arun(preset=PRESETS["sync_vs_async"], concurrency=3, target=TARGET)
    )
    await arrived.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert cancelled == ["/compare/sync_call/"] * 3
    assert lab.status() == {"running": False}
    hang = False
    again = await lab.arun(preset=PRESETS["sync_vs_async"], concurrency=1, target=TARGET)
    assert not again.partial


@pytest.mark.asyncio
async def test_run_rejects_a_concurrency_the_views_should_have_refused() -> None:
    lab = Lab(transport=lambda limits: httpx.MockTransport(lambda r: httpx.Response(200)))
    with pytest.raises(ValueError):
        await lab.arun(preset=PRESETS["sync_vs_async"], concurrency=0, target=TARGET)


def test_target_is_the_servers_own_address_with_the_checked_host() -> None:
    factory = RequestFactory()
    request = factory.get(
        "/lab/run/", SERVER_NAME="0.0.0.0", SERVER_PORT="8123", HTTP_HOST="testserver"
    )
    target = runner.target_from_request(request)
    assert target.base_url == "http://127.0.0.1:8123"
    assert target.headers == {"Host": "testserver", "X-Forwarded-Proto": "http"}
    request = factory.get("/lab/run/", SERVER_NAME="::", SERVER_PORT="8123", HTTP_HOST="testserver")
    assert runner.target_from_request(request).base_url == "http://[::1]:8123"


# --- the views ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"preset": "nope", "concurrency": 20}, "preset must be one of: sync_vs_async,"),
        ({"concurrency": 20}, "preset must be one of"),
        ({"preset": "sync_vs_async", "concurrency": 0}, "from 1 to 200"),
        ({"preset": "sync_vs_async", "concurrency": MAX_CONCURRENCY + 1}, "from 1 to 200"),
        ({"preset": "sync_vs_async", "concurrency": "20"}, "from 1 to 200"),
        ({"preset": "sync_vs_async", "concurrency": 20.5}, "from 1 to 200"),
        ({"preset": "sync_vs_async", "concurrency": True}, "from 1 to 200"),
        ({"preset": "sync_vs_async"}, "from 1 to 200"),
        (["sync_vs_async", 20], "Send a JSON object"),
        (b"preset=sync_vs_async", "must be JSON"),
        (b"{" + b" " * 2000 + b"}", "too large"),
    ],
)
def test_run_rejects_invalid_input_with_400(answered: list[httpx.Request], body, message) -> None:
    response = run_json(Client(), body)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert answered == []


def test_run_error_messages_speak_russian() -> None:
    response = run_json(Client(), {"preset": "nope"}, HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 400
    assert "preset должен быть одним из" in response.content.decode()


def test_run_returns_the_timeline_as_json(answered: list[httpx.Request]) -> None:
    response = run_json(Client(), {"preset": "blocking_vs_nonblocking", "concurrency": 3})
    assert response.status_code == 200
    data = response.json()
    assert (data["preset"], data["concurrency"], data["partial"]) == (
        "blocking_vs_nonblocking",
        3,
        False,
    )
    assert [side["key"] for side in data["sides"]] == ["a", "b"]
    assert [len(side["requests"]) for side in data["sides"]] == [3, 3]
    assert {"span_ms", "rps", "p50_ms", "p99_ms"} <= set(data["sides"][0])
    assert len(answered) == 6
    assert {request.headers["host"] for request in answered} == {"testserver"}


def test_run_needs_post_and_a_csrf_token() -> None:
    assert Client().get("/lab/run/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    assert run_json(strict, {"preset": "sync_vs_async", "concurrency": 1}).status_code == 403


def test_page_lists_every_preset_and_serves_its_own_assets() -> None:
    response = Client().get("/lab/")
    assert response.status_code == 200
    html = response.content.decode()
    for key in PRESETS:
        assert f'value="{key}"' in html
    assert '<html lang="en">' in html
    assert "Async views, measured" in html
    # No CDN, no inline script or style: everything comes from the project's static files.
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
    assert re.findall(r"<script(?![^>]*(?:src=|application/json))", html) == []
    assert "<style" not in html and "style=" not in html


def test_page_speaks_russian_by_accept_language() -> None:
    response = Client().get("/lab/", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9,en;q=0.5")
    html = response.content.decode()
    assert '<html lang="ru">' in html
    assert "Асинхронные представления: замеряем" in html
    assert "Sync против async" in html
    assert response["Content-Language"] == "ru"


def test_language_switch_sets_the_language_for_later_requests() -> None:
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "ru", "next": "/lab/"})
    assert response.status_code == 302
    assert response["Location"] == "/lab/"
    assert '<html lang="ru">' in client.get("/lab/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/lab/"})
    assert '<html lang="en">' in client.get("/lab/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()


def test_article_bodies_stay_english_in_russian(fake_upstream: FakeUpstream) -> None:
    response = Client().get("/", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.content == b"Hello, async Django!"


def test_compiled_russian_messages_match_the_po_file() -> None:
    po = (LOCALE / "ru" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    with (LOCALE / "ru" / "LC_MESSAGES" / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    entries = re.findall(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', po, re.M)
    assert len(entries) > 30

    def text(quoted: str) -> str:
        return "".join(json.loads(line) for line in quoted.splitlines())

    for msgid, msgstr in entries:
        if text(msgid):
            assert text(msgstr), f"untranslated: {text(msgid)!r}"
            assert compiled.gettext(text(msgid)) == text(msgstr), "run compilemessages"


# --- the lab's endpoint in compare.py ----------------------------------------------------------


@pytest.mark.asyncio
async def test_background_call_answers_then_calls_the_upstream(
    serving, fake_upstream: FakeUpstream
) -> None:
    response = await AsyncClient().get("/compare/background_call/?delay_ms=300")
    assert response.content == b"background: queued"
    await serving.await_idle()
    assert [request.url.path for request in fake_upstream.requests] == ["/delay/0.3"]
    assert serving.counts().done == 1


@pytest.mark.asyncio
async def test_background_call_validates_its_delay(serving) -> None:
    response = await AsyncClient().get("/compare/background_call/?delay_ms=99999")
    assert response.status_code == 400
    assert serving.counts().pending == 0
