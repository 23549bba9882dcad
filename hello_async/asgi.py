"""ASGI entry point: ``uvicorn hello_async.asgi:application``.

Django's ASGI handler with the lifespan protocol (django-asgi-lifespan), which
hello_async.ops.lifespan uses to open and close the upstream client and drain background work;
the fast path's version of it (hello_async.fastpath.handler) unless ``HELLO_ASYNC_FASTPATH=0``.

One ASGI wrapper goes around it, the door (hello_async.ops.door; the lifespan passes through):
it counts and times each request by method, URL pattern and status (/metrics), lists it in the
in-flight table (the loop monitor), gives it its id (its log lines carry it), and hands it to
the gates below, outermost first. Each gate is an ASGI wrapper of its own, and a request none of
them has anything to do with (no console header, a body within the limit, a loopback client)
skips them all:

    ConsoleMiddleware         ties a request sent from a console page to that page's stream
    BodyLimitMiddleware       413 for a body over HELLO_ASYNC_MAX_BODY_BYTES, before Django
                              reads it
    LoopbackOnlyMiddleware    403 for a client that is not a loopback address (local mode only)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import cast

import django
from django.conf import settings

from hello_async.web.asgi_types import ASGIApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")
django.setup(set_prefix=False)

# Imported once Django is set up: the middleware they load need the app registry.
from django_asgi_lifespan.handler import LifespanASGIHandler  # noqa: E402

from hello_async.live.console import ConsoleMiddleware  # noqa: E402
from hello_async.ops.door import Door, Gate  # noqa: E402
from hello_async.web.limits import BodyLimitMiddleware  # noqa: E402
from hello_async.web.loopback import LoopbackOnlyMiddleware  # noqa: E402

handler: LifespanASGIHandler
if settings.HELLO_ASYNC_FASTPATH:
    from hello_async.fastpath.handler import FastASGIHandler

    handler = FastASGIHandler()
else:
    handler = LifespanASGIHandler()

# The handler is typed with asgiref's TypedDict events; the wrappers use plain mappings.
django_application = cast(ASGIApp, handler)
gates: list[Callable[[ASGIApp], Gate]] = [ConsoleMiddleware, BodyLimitMiddleware]
if not settings.PRODUCTION:  # local mode trusts the Host header: loopback clients only
    gates.append(LoopbackOnlyMiddleware)
application = Door(django_application, gates=gates)
