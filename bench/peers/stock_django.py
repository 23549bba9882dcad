"""The stock peer: this project on Django's own ASGI handler and stock middleware.

The same settings, views and upstream client as ``hello_async.asgi:application``, but
django-asgi-lifespan's handler as it comes (Django's ``ASGIHandler`` + lifespan) instead of
``hello_async.fastpath.handler``: every ``MiddlewareMixin`` hook, the ``request_started``
receivers and ``response.close()`` go through ``sync_to_async``, as in any Django project. Run from
the root:

    uvicorn stock_django:application --app-dir bench/peers --loop uvloop --http httptools
"""

from __future__ import annotations

import os

from django_asgi_lifespan.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")

application = get_asgi_application()
