"""Debian's Chromium driven by Playwright, for the browser tests (the lab, the console, the board).

CI installs the browser with ``apt-get install -y chromium``; Playwright's own browser download
is not used. The fixtures ``browser`` and ``page`` are in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install -y chromium"
)
