"""The fast path: forks of Django and HTTPX internals, behind one switch.

``HELLO_ASYNC_FASTPATH=0`` runs the project on Django's own ASGI handler (with the lifespan),
Django's own middleware and response constructor, a plain ``httpx.AsyncClient`` on httpx-aiohttp
and Python's own garbage collector. On (the default), each fork below stands in for the code it
copies; ``HELLO_ASYNC_FASTPATH_OFF`` turns single forks off (the bench measures each that way).
What each buys, and how it was measured: docs/performance.md. Each is pinned to the code it
copies in one place, tests/pins.py.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Each fork, by the name HELLO_ASYNC_FASTPATH_OFF knows it by.
FORKS: dict[str, str] = {
    "handler": "Django's ASGI handler, its request kept on the loop (no thread hops)",
    "middleware": "Django's stock middleware, its hooks run on the loop",
    "lean_chain": "the plain-text and JSON endpoints skip the HTML middleware",
    "respond": "the view raced against the disconnect without a TaskGroup",
    "security": "SecurityMiddleware's headers set straight into the response's store",
    "receivers": "Django's request signal receivers reading asgiref's storage directly",
    "text": "the article's plain-text responses built without HttpResponse's constructor",
    "client": "httpx.AsyncClient without the cookie-jar, no-op auth and stream wrapper costs",
    "handover": "an upstream answer handed to HTTPX already read",
    "io": "the handler's I/O: no spooled file for a bodiless request, a plain answer sent whole",
    "accept": "uvloop's TCP server accepting every waiting connection in one turn",
}


def enabled(fork: str) -> bool:
    """Whether ``fork`` runs: the fast path on, and the fork not turned off."""
    if fork not in FORKS:
        raise KeyError(f"no fork {fork!r}; the forks are: {', '.join(FORKS)}")
    return bool(settings.HELLO_ASYNC_FASTPATH) and fork not in settings.HELLO_ASYNC_FASTPATH_OFF


def check_settings() -> None:
    """Refuse an unknown fork in HELLO_ASYNC_FASTPATH_OFF (at startup: the app's ready())."""
    unknown = sorted(set(settings.HELLO_ASYNC_FASTPATH_OFF) - set(FORKS))
    if unknown:
        raise ImproperlyConfigured(
            f"HELLO_ASYNC_FASTPATH_OFF names no fork {', '.join(unknown)}; "
            f"the forks are: {', '.join(FORKS)}."
        )
