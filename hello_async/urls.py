from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from hello_async.article import views
from hello_async.lab import compare
from hello_async.ops import health
from hello_async.web.access import lab_path

urlpatterns = [
    path("", views.index, name="index"),
    path("async/", views.async_view, name="async"),
    path("sync/", views.sync_view, name="sync"),
    path("sync_to_async/", views.async_with_sync_view, name="sync_to_async"),
    path("smoke_some_meats/", views.smoke_some_meats, name="smoke_some_meats"),
    path("burn_some_meats/", views.burn_some_meats, name="burn_some_meats"),
    path("smoke_runs/", views.smoke_runs_view, name="smoke_runs"),
    path("smoke_orders/", include("hello_async.work.views")),  # Django tasks, durable
    # The lab and compare load or block the server: routed only while HELLO_ASYNC_LAB is on.
    lab_path("compare/", compare),
    path("", include(health)),  # /healthz, /readyz, /metrics
    lab_path("lab/", "hello_async.lab.views"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Last: a request's URL is tried against the patterns in order, and the admin's include is the
    # one pattern whose miss raises (Resolver404) rather than returning None. No other route can
    # match a path under admin/ (tests/test_urls.py), so the order decides nothing else.
    path("admin/", admin.site.urls),
]
