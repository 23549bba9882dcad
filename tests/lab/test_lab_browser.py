"""The lab page in a real browser: Debian's Chromium driven by Playwright, against the real server.

CI installs the browser with ``apt-get install -y chromium``; Playwright's own browser download
is not used. ``LAB_SCREENSHOT_DOCS=1`` also writes the screenshot to docs/img/lab.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, needs_chromium
from tests.support.servers import ROOT, uvicorn_server

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    needs_chromium,
]

if CHROMIUM.exists():
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def lab_server(httpbin_url: str) -> Iterator[str]:
    process, base_url = uvicorn_server({"UPSTREAM_URL": httpbin_url})
    try:
        yield base_url
    finally:
        process.terminate()


def test_sync_vs_async_at_20_draws_40_bars_and_async_ends_sooner(
    lab_server: str, page: Page, tmp_path: Path
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{lab_server}/lab/")
    page.locator("label.preset", has=page.locator("input[value=sync_vs_async]")).click()
    page.fill("#concurrency", "20")
    page.click("#run")

    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    assert page.locator("#message.error").count() == 0
    assert page.locator("rect.bar").count() == 40
    assert page.locator('rect.bar[data-side="a"]').count() == 20
    assert page.locator('rect.bar[data-side="b"]').count() == 20
    assert page.locator("rect.bar.error, rect.bar.unfinished").count() == 0
    # The page polled the progress while the run was going (side A alone waits 300 ms).
    assert f"{lab_server}/lab/status/" in requested
    assert page.locator("#progress").is_hidden()
    span_a = float(page.get_attribute("#result", "data-span-a") or "nan")
    span_b = float(page.get_attribute("#result", "data-span-b") or "nan")
    # The sync side waits 300 ms of upstream work per request; the async side answers at once.
    assert span_b < span_a / 2, (span_a, span_b)

    page.screenshot(path=tmp_path / "lab.png", full_page=True)
    if os.environ.get("LAB_SCREENSHOT_DOCS"):
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ROOT / "docs" / "img" / "lab.png", full_page=True)


def test_language_switch_turns_the_page_russian(lab_server: str, page: Page) -> None:
    page.goto(f"{lab_server}/lab/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("form.lang button[value=ru]")
    page.wait_for_selector("html[lang=ru]")
    assert page.locator("h1").inner_text() == "Асинхронные представления: замеряем"
    assert page.locator("#run").inner_text() == "Запустить"
