"""The live peer: our /smoke_some_meats/live/ on Starlette + sse-starlette, for the bench's
``live`` row.

The same work as the Django view: the article's waits (``HELLO_ASYNC_TIME_SCALE`` times 2 s and
1 s), two gathered GETs on one pooled aiohttp session, and each of the article's lines sent as an
event the moment it happens (``event: line``), then the body as ``event: result``. The work runs
as a task beside the stream and hands its lines over a queue, as ours does; when the client
leaves, sse-starlette stops the stream and the task is cancelled. ``UPSTREAM_URL`` and
``UPSTREAM_MAX_CONNECTIONS`` as for the Django app. Run from the repo root:

    uvicorn sse_peer:app --app-dir bench/peers --loop uvloop --http httptools
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator

import aiohttp
from peer_session import fetch, session_lifespan
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

SMOKABLES = ["ribs", "brisket", "lemon chicken", "salmon", "bison sirloin", "sausage"]
FLAVORS = ["Sweet Baby Ray's", "Stubb's Original", "Famous Dave's"]
SCALE = float(os.environ.get("HELLO_ASYNC_TIME_SCALE", "1"))


async def wait(seconds: float) -> None:
    if seconds * SCALE > 0:
        await asyncio.sleep(seconds * SCALE)


async def smoke(session: aiohttp.ClientSession, say: asyncio.Queue[ServerSentEvent | None]) -> None:
    def line(text: str) -> None:
        say.put_nowait(ServerSentEvent(text, event="line"))

    async def smokables() -> list[str]:
        line("Getting smokeables...")
        await wait(2.0)
        await fetch(session)
        line("Returning smokeable")
        return SMOKABLES

    async def flavor() -> str:
        line("Getting flavor...")
        await wait(1.0)
        await fetch(session)
        line("Returning flavor")
        return random.choice(FLAVORS)

    try:
        meats, chosen = await asyncio.gather(smokables(), flavor())
        for meat in meats:
            line(f"Smoking some {meat}...")
            line(f"Applying the {chosen}...")
            line(f"{meat.capitalize()} smoked.")
        say.put_nowait(ServerSentEvent(f"Smoked {len(meats)} meats with {chosen}!", event="result"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        say.put_nowait(ServerSentEvent(f"upstream failed: {exc!r}", event="error"))
    finally:
        say.put_nowait(None)


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, async Starlette!")


async def live(request: Request) -> EventSourceResponse:
    session: aiohttp.ClientSession = request.app.state.session
    say: asyncio.Queue[ServerSentEvent | None] = asyncio.Queue()
    work = asyncio.create_task(smoke(session, say))

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            while (event := await say.get()) is not None:
                yield event
        finally:
            work.cancel()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventSourceResponse(events(), headers=headers, ping=15)


app = Starlette(
    routes=[Route("/", index), Route("/smoke_some_meats/live/", live)], lifespan=session_lifespan
)
