"""/console/: the article's console in the browser (routed while the lab is on)."""

from __future__ import annotations

from django.urls import path

from hello_async.live import views

urlpatterns = [
    path("", views.console_page, name="console"),
    path("events/", views.console_events, name="console-events"),
]
