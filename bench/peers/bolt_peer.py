"""The django-bolt peer: the same fan-out as our /smoke_some_meats/ (demo waits at 0) on
django-bolt (Actix Web in Rust, the handlers in Python on one worker thread's asyncio loop).

One pooled aiohttp session; two GETs to the same upstream, gathered; plain-text answers; no
per-request logging (``enable_logging=False``, at WARNING as the quiet rows run ours).
``UPSTREAM_URL`` and ``UPSTREAM_MAX_CONNECTIONS`` as for the Django app. The module is its own
Django settings and its own ``manage.py``; run from the repo root:

    python bench/peers/bolt_peer.py --port 8000

which is ``runbolt`` with one process and one worker thread on 127.0.0.1 (the bench pins the
process to one CPU, as it does Uvicorn). The session is made on the first request, not in a
lifespan: django-bolt runs its lifespan on another thread's loop than the one that runs the
handlers, and an aiohttp session belongs to the loop it was made on.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys

import aiohttp
import django
from django.conf import settings
from peer_session import fetch

SMOKABLES = ["ribs", "brisket", "lemon chicken", "salmon", "bison sirloin", "sausage"]
FLAVORS = ["Sweet Baby Ray's", "Stubb's Original", "Famous Dave's"]

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-peer-only",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["django_bolt"],
        ROOT_URLCONF=__name__,
        BOLT_API=[f"{__name__}:api"],
        DATABASES={},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()

from django_bolt import BoltAPI  # noqa: E402 (needs the settings above)
from django_bolt.responses import PlainText  # noqa: E402

urlpatterns: list[object] = []
api = BoltAPI(trailing_slash="keep", enable_logging=False, compression=False)

_session: aiohttp.ClientSession | None = None


def session() -> aiohttp.ClientSession:
    """The pooled session, made on the loop that runs the handlers, the first time it is used."""
    global _session
    if _session is None:
        limit = int(os.environ.get("UPSTREAM_MAX_CONNECTIONS", "1000"))
        timeout = aiohttp.ClientTimeout(total=float(os.environ.get("UPSTREAM_TIMEOUT", "10")))
        _session = aiohttp.ClientSession(
            base_url=os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001").rstrip("/"),
            connector=aiohttp.TCPConnector(limit=limit),
            timeout=timeout,
        )
    return _session


async def get_smokables(client: aiohttp.ClientSession) -> list[str]:
    await fetch(client)
    return SMOKABLES


async def get_flavor(client: aiohttp.ClientSession) -> str:
    await fetch(client)
    return random.choice(FLAVORS)


@api.get("/")
async def index(request: object) -> PlainText:
    return PlainText("Hello, async django-bolt!")


@api.get("/smoke_some_meats/")
async def smoke_some_meats(request: object) -> PlainText:
    client = session()
    smokables, flavor = await asyncio.gather(get_smokables(client), get_flavor(client))
    return PlainText(f"Smoked {len(smokables)} meats with {flavor}!")


if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_BOLT_LOG_LEVEL", "WARNING")
    args = ["bolt_peer", "runbolt", "--host", "127.0.0.1", "--processes", "1", "--workers", "1"]
    execute_from_command_line([*args, "--no-admin", "--skip-checks", *sys.argv[1:]])
