"""What both peers share: one pooled aiohttp session for the app's life, and the upstream GET.

``UPSTREAM_URL``, ``UPSTREAM_MAX_CONNECTIONS`` and ``UPSTREAM_TIMEOUT`` as for the Django app.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp


@asynccontextmanager
async def session_lifespan(app: Any) -> AsyncIterator[None]:
    """A lifespan that puts the session on ``app.state.session`` (FastAPI and Starlette alike)."""
    limit = int(os.environ.get("UPSTREAM_MAX_CONNECTIONS", "1000"))
    connector = aiohttp.TCPConnector(limit=limit)
    timeout = aiohttp.ClientTimeout(total=float(os.environ.get("UPSTREAM_TIMEOUT", "10")))
    base_url = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001").rstrip("/")
    async with aiohttp.ClientSession(
        base_url=base_url, connector=connector, timeout=timeout
    ) as session:
        app.state.session = session
        yield


async def fetch(session: aiohttp.ClientSession) -> int:
    async with session.get("/") as response:
        await response.read()
        response.raise_for_status()
        return response.status
