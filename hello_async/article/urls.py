"""The article's URLs: its six views, and the async ORM's smoke runs.

``/burn_some_meats/`` blocks the worker's event loop for 5 s on purpose, the article's
anti-pattern: it is routed only while the lab is on (locally, under DEBUG, ``HELLO_ASYNC_LAB=1``);
otherwise it is a 404 like ``/compare/...`` (hello_async.web.access).
"""

from __future__ import annotations

from django.urls import path

from hello_async.article import views
from hello_async.web.access import lab_route

urlpatterns = [
    path("", views.index, name="index"),
    path("async/", views.async_view, name="async"),
    path("sync/", views.sync_view, name="sync"),
    path("sync_to_async/", views.async_with_sync_view, name="sync_to_async"),
    path("smoke_some_meats/", views.smoke_some_meats, name="smoke_some_meats"),
    lab_route("burn_some_meats/", views.burn_some_meats, name="burn_some_meats"),
    path("smoke_runs/", views.smoke_runs_view, name="smoke_runs"),
]
