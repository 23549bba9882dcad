"""The console and the live board in a real browser: Debian's Chromium driven by Playwright.

``LIVE_SCREENSHOT_DOCS=1`` also writes the screenshots to docs/img/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.browser import needs_chromium
from tests.support.servers import ROOT, Process

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    needs_chromium,
]

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def site(httpbin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``hello-async`` itself: the server and a task worker beside it (the board needs one)."""
    import sys

    db = tmp_path_factory.mktemp("live") / "db.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": f"sqlite:///{db}",
        "UPSTREAM_URL": httpbin_url,
        "HELLO_ASYNC_TIME_SCALE": "0.2",
        "HELLO_ASYNC_TASK_POLL_INTERVAL": "0.1",
        "HELLO_ASYNC_BOARD_POLL": "0.1",
    }
    process = Process([sys.executable, "-m", "hello_async.cli", "--port", "0"], env=env)
    try:
        yield process.wait_for(r"Uvicorn running on (http://\S+)").group(1)
    finally:
        process.terminate()


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=tmp_path / name, full_page=True)
    if os.environ.get("LIVE_SCREENSHOT_DOCS"):
        page.screenshot(path=ROOT / "docs" / "img" / name, full_page=True)


def test_the_console_shows_async_answering_before_its_count(
    site: str, page: Page, tmp_path: Path
) -> None:
    page.goto(f"{site}/console/")
    page.wait_for_selector("body[data-ready=true]")
    page.click('button[data-paths="/async/"]')
    request = page.locator('.request[data-path="/async/"]').first
    request.locator("li.event-line", has_text="<Response [200 OK]>").wait_for(timeout=15_000)
    answered = float(request.locator("li.event-answered").get_attribute("data-t") or "nan")
    counts = request.locator("li.event-line")
    texts = [counts.nth(i).locator(".text").inner_text() for i in range(counts.count())]
    assert texts == ["1", "2", "3", "4", "5", "<Response [200 OK]>"]
    times = [float(counts.nth(i).get_attribute("data-t") or "nan") for i in range(6)]
    assert answered < times[0]  # the answer first, then the count
    assert times == sorted(times) and times[4] - times[0] > 4 * 200 * 0.7  # ticks of 0.2 s
    screenshot(page, "console.png", tmp_path)


def test_the_console_draws_the_smoking_lines_before_the_answer(site: str, page: Page) -> None:
    page.goto(f"{site}/console/")
    page.wait_for_selector("body[data-ready=true]")
    page.click('button[data-paths="/smoke_some_meats/"]')
    request = page.locator('.request[data-path="/smoke_some_meats/"]').first
    request.locator("li.event-answered").wait_for(timeout=15_000)
    request.locator("li.event-line", has_text="Sausage smoked.").wait_for(timeout=15_000)
    # Placed by the server's times, pinned at the answer: the smoke's lines were all logged
    # before the answer went out, and are drawn before it, whenever they reached the page.
    page.wait_for_function(
        """() => {
          const view = document.querySelector('.request[data-path="/smoke_some_meats/"]');
          const items = [...view.querySelectorAll("li")];
          return items.length > 0 && items[items.length - 1].dataset.kind === "answered";
        }""",
        timeout=5_000,
    )
    kinds = request.locator("li").evaluate_all("items => items.map(i => i.dataset.kind)")
    assert kinds[0] == "sent" and kinds[-1] == "answered" and kinds.count("line") == 22


def test_burn_holds_up_the_request_sent_beside_it(site: str, page: Page) -> None:
    page.goto(f"{site}/console/")
    page.wait_for_selector("body[data-ready=true]")
    page.click('button[data-paths="/burn_some_meats/ /"]')
    card = page.locator(".run-card").first
    card.locator('.request[data-path="/"] li.event-answered').wait_for(timeout=15_000)
    card.locator('.request[data-path="/burn_some_meats/"] li.event-answered').wait_for()
    burn = float(
        card.locator('.request[data-path="/burn_some_meats/"] li.event-answered').get_attribute(
            "data-t"
        )
        or "nan"
    )
    index = float(
        card.locator('.request[data-path="/"] li.event-answered').get_attribute("data-t") or "nan"
    )
    sent = float(
        card.locator('.request[data-path="/"] li.event-sent').get_attribute("data-t") or "nan"
    )
    assert sent < burn - 500  # / went out while the burn ran (1 s at this scale) ...
    assert index >= burn - 50  # ... and was answered only once the loop was free again


def test_the_console_speaks_russian(site: str, page: Page) -> None:
    page.goto(f"{site}/console/")
    page.click("form.lang button[value=ru]")
    page.wait_for_selector("html[lang=ru]")
    assert page.locator("h1").inner_text() == "Консоль статьи"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_board_follows_an_order_as_it_moves(
    site: str, page: Page, language: str, tmp_path: Path
) -> None:
    page.goto(f"{site}/smoke_orders/board/")
    if language == "ru":
        page.click("form.lang button[value=ru]")
        page.wait_for_selector("html[lang=ru]")
    page.wait_for_selector("body[data-live=true]")
    order = httpx.post(
        f"{site}/smoke_orders/", json={"meats": 2, "flavor": "Famous Dave's"}, timeout=10
    ).json()
    row = page.locator(f'tr[data-id="{order["id"]}"]')
    row.wait_for(timeout=10_000)  # appeared without a reload
    page.wait_for_selector(f'tr[data-id="{order["id"]}"][data-status="SUCCESSFUL"]', timeout=15_000)
    finished = row.locator("time").nth(2).inner_text()
    assert finished and ":" in finished  # a clock time, not an ISO timestamp
    done = {"en": "SUCCESSFUL", "ru": "ГОТОВ"}[language]
    assert row.locator(".state").inner_text() == done
    screenshot(page, f"board-{language}.png", tmp_path)
