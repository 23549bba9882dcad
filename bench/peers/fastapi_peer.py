"""The peer: the same fan-out as our /smoke_some_meats/ (demo waits at 0) on FastAPI.

One pooled aiohttp session, created in the lifespan; two GETs to the same upstream, gathered.
``UPSTREAM_URL`` and ``UPSTREAM_MAX_CONNECTIONS`` as for the Django app. It logs the article's
lines as a FastAPI user would (a module logger, a StreamHandler with Uvicorn's prefixes) at
``HELLO_ASYNC_LOG_LEVEL`` (WARNING unless set), so the bench can compare both sides logging the
same lines. Run from the repo root:

    uvicorn fastapi_peer:app --app-dir bench/peers --loop uvloop --http httptools
"""

from __future__ import annotations

import asyncio
import logging
import os
import random

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from peer_session import fetch, session_lifespan
from uvicorn.logging import DefaultFormatter

SMOKABLES = ["ribs", "brisket", "lemon chicken", "salmon", "bison sirloin", "sausage"]
FLAVORS = ["Sweet Baby Ray's", "Stubb's Original", "Famous Dave's"]

logger = logging.getLogger("fastapi_peer")
_handler = logging.StreamHandler()
_handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
logger.addHandler(_handler)
logger.setLevel(os.environ.get("HELLO_ASYNC_LOG_LEVEL", "WARNING"))
logger.propagate = False


app = FastAPI(lifespan=session_lifespan)


@app.get("/", response_class=PlainTextResponse)
async def index() -> str:
    return "Hello, async FastAPI!"


async def get_smokables(session: aiohttp.ClientSession) -> list[str]:
    logger.info("Getting smokeables...")
    await fetch(session)
    logger.info("Returning smokeable")
    return SMOKABLES


async def get_flavor(session: aiohttp.ClientSession) -> str:
    logger.info("Getting flavor...")
    await fetch(session)
    logger.info("Returning flavor")
    return random.choice(FLAVORS)


@app.get("/smoke_some_meats/", response_class=PlainTextResponse)
async def smoke_some_meats(request: Request) -> str:
    session: aiohttp.ClientSession = request.app.state.session
    smokables, flavor = await asyncio.gather(get_smokables(session), get_flavor(session))
    for smokable in smokables:
        logger.info("Smoking some %s...", smokable)
        logger.info("Applying the %s...", flavor)
        logger.info("%s smoked.", smokable.capitalize())
    return f"Smoked {len(smokables)} meats with {flavor}!"
