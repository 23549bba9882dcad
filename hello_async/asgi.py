"""ASGI entry point: ``uvicorn hello_async.asgi:application``.

The handler (hello_async.fastpath.handler) is django-asgi-lifespan's: Django's ASGIHandler plus the
lifespan protocol, which hello_async.ops.lifespan uses to open and close the upstream client and
drain background work; minus the per-request thread hops that a request without sync code does not
need.

Two plain ASGI wrappers go around it (both pass the lifespan scope through untouched):

    InFlightMiddleware      records method + path of each request while it runs (loop monitor)
    BodyLimitMiddleware     413 for a body over HELLO_ASYNC_MAX_BODY_BYTES, before Django reads it
"""

from __future__ import annotations

import os
from typing import cast

from hello_async.fastpath.handler import get_asgi_application
from hello_async.ops.inflight import InFlightMiddleware
from hello_async.web.asgi_types import ASGIApp
from hello_async.web.limits import BodyLimitMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")

# The handler is typed with asgiref's TypedDict events; the wrappers use plain mappings.
django_application = cast(ASGIApp, get_asgi_application())
application = InFlightMiddleware(BodyLimitMiddleware(django_application))
