"""The peer: the same fan-out as our /smoke_some_meats/ (demo waits at 0) on FastAPI.

One pooled aiohttp session, created in the lifespan; two GETs to the same upstream, gathered.
``UPSTREAM_URL`` and ``UPSTREAM_MAX_CONNECTIONS`` as for the Django app. Run from the repo root:

    uvicorn fastapi_peer:app --app-dir bench/peers --loop uvloop --http httptools
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

SMOKABLES = ["ribs", "brisket", "lemon chicken", "salmon", "bison sirloin", "sausage"]
FLAVORS = ["Sweet Baby Ray's", "Stubb's Original", "Famous Dave's"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    limit = int(os.environ.get("UPSTREAM_MAX_CONNECTIONS", "1000"))
    connector = aiohttp.TCPConnector(limit=limit)
    timeout = aiohttp.ClientTimeout(total=float(os.environ.get("UPSTREAM_TIMEOUT", "10")))
    base_url = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001").rstrip("/")
    async with aiohttp.ClientSession(
        base_url=base_url, connector=connector, timeout=timeout
    ) as session:
        app.state.session = session
        yield


app = FastAPI(lifespan=lifespan)


async def fetch(session: aiohttp.ClientSession) -> int:
    async with session.get("/") as response:
        await response.read()
        response.raise_for_status()
        return response.status


@app.get("/", response_class=PlainTextResponse)
async def index() -> str:
    return "Hello, async FastAPI!"


@app.get("/smoke_some_meats/", response_class=PlainTextResponse)
async def smoke_some_meats(request: Request) -> str:
    session: aiohttp.ClientSession = request.app.state.session
    await asyncio.gather(fetch(session), fetch(session))
    return f"Smoked {len(SMOKABLES)} meats with {random.choice(FLAVORS)}!"
