from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from asgiref.sync import SyncToAsync
from django.db import connections

from hello_async import upstream
from hello_async.jobs import background
from hello_async.lab import runner
from hello_async.ops import lifespan
from hello_async.upstream.local import LocalUpstream
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.parts import using_lab, using_owner, using_upstream

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeUpstream:
    """The upstream, stubbed at the transport: records requests, answers with ``handler``."""

    requests: list[httpx.Request] = field(default_factory=list)
    handler: Handler = lambda request: httpx.Response(200, text="<html>httpbin</html>")

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def install(self, *, timeout: float = 5.0) -> upstream.Upstream:
        return upstream.Upstream(
            base_url="http://upstream.test",
            timeout=timeout,
            async_transport=lambda: httpx.MockTransport(self._handle),
            sync_transport=httpx.MockTransport(self._handle),
        )


@pytest.fixture(autouse=True)
def _close_async_orm_connections() -> Iterator[None]:
    """Close what the async ORM opened in asgiref's shared sync thread during a test.

    Outside a request, ``sync_to_async`` (and so ``acreate``, ``acount``...) runs in one
    process-wide thread; its connection would outlive the test and keep PostgreSQL from dropping
    the test database.
    """
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with using_upstream(fake.install()):
        yield fake


@pytest.fixture
def owner() -> Iterator[background.BackgroundWork]:
    fresh = background.BackgroundWork()
    with using_owner(fresh):
        try:
            yield fresh
        finally:
            fresh.drain_thread(grace=5)


@pytest_asyncio.fixture
async def serving(
    fake_upstream: FakeUpstream, owner: background.BackgroundWork
) -> AsyncIterator[background.BackgroundWork]:
    """The test's event loop as a serving loop: the ASGI lifespan's startup and shutdown."""
    await lifespan.astartup()
    try:
        yield owner
    finally:
        await lifespan.ashutdown()


@pytest.fixture
def time_scale(settings: pytest.FixtureRequest) -> Callable[[float], None]:
    def set_scale(scale: float) -> None:
        settings.HELLO_ASYNC_TIME_SCALE = scale  # type: ignore[attr-defined]

    return set_scale


@pytest.fixture(scope="session")
def httpbin_url() -> Iterator[str]:
    """A real httpbin on loopback, as the project runs it."""
    with LocalUpstream() as local:
        assert local.url is not None
        yield local.url


@pytest.fixture
def quick_lab() -> Iterator[None]:
    """The lab's experiments answered at the transport: a valid /lab/run/ finishes at once."""
    lab = runner.Lab(transport=lambda limits: httpx.MockTransport(lambda r: httpx.Response(200)))
    with using_lab(lab):
        yield


# --- a browser: Debian's Chromium, driven by Playwright (tests/support/browser.py) ------------

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # launch() gives the browser a fresh temporary profile of its own (and refuses
        # --user-data-dir).
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1240, "height": 900}, locale="en-US")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    try:
        yield page
        # A refused inline script or style (the CSP) or a failed asset shows up here.
        assert problems == []
    finally:
        context.close()
