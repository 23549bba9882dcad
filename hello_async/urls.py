"""The project's URLs: the article's first, then durable work, the lab, probes, the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from hello_async.article import urls as article
from hello_async.live import views as live
from hello_async.web.access import lab_path

urlpatterns = [
    # The article's views first, listed rather than included: an include costs every request
    # that reaches it one more resolver to walk.
    *article.urlpatterns,
    path("smoke_some_meats/live/", live.smoke_some_meats_live, name="smoke_some_meats_live"),
    path("smoke_orders/", include("hello_async.work.views")),  # Django tasks, durable
    # The lab and compare load or block the server: routed only while HELLO_ASYNC_LAB is on.
    lab_path("compare/", "hello_async.lab.compare"),
    path("", include("hello_async.ops.health")),  # /healthz, /readyz, /metrics
    lab_path("lab/", "hello_async.lab.views"),
    lab_path("console/", "hello_async.live.urls"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Last: a request's URL is tried against the patterns in order, and the admin's include is the
    # one pattern whose miss raises (Resolver404) rather than returning None. No other route can
    # match a path under admin/ (tests/test_urls.py), so the order decides nothing else.
    path("admin/", admin.site.urls),
]
