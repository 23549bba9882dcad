"""ASGI entry point: ``uvicorn hello_async.asgi:application``.

django-asgi-lifespan's handler is Django's ASGIHandler plus the lifespan protocol, which
hello_async.lifespan uses to open and close the upstream client and drain background work.
"""

from __future__ import annotations

import os

from django_asgi_lifespan.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")

application = get_asgi_application()
