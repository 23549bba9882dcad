"""WSGI entry point (``gunicorn hello_async.wsgi``): the async views still work, each on a
one-off event loop; background work then runs on the background thread's loop."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_async.settings")

application = get_wsgi_application()
