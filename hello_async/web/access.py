"""What strangers can reach in production (docs/production.md).

* :func:`lab_path`: the lab (``/lab/``) and the side-by-side endpoints (``/compare/...``) make
  the server load or block itself (``/compare/block/?ms=3000`` stops the event loop for 3 s).
  While ``HELLO_ASYNC_LAB`` is off (the default in production) their include matches nothing,
  so they answer exactly as a URL that does not exist: 404, for every method, with no CSRF 403
  before it and no redirect to the slashed path.
* :func:`lab_route`: the same for one view, the article's ``/burn_some_meats/``, which blocks
  the event loop for 5 s on purpose (its anti-pattern): anyone could stall a worker with it.
* :func:`metrics_guard`: in production (``settings.PRODUCTION``) ``/metrics`` answers only to
  ``Authorization: Bearer <HELLO_ASYNC_METRICS_TOKEN>``; a missing or wrong token gets 401 with
  ``WWW-Authenticate: Bearer``, and while no token is set it is a 404. Locally and under DEBUG it
  is open.

Both read the settings on each request rather than once when the URLconf is built: the URLconf
is loaded once per process, so a test (or anything else) that overrides the setting would have to
reload it. The price is one settings attribute read when a URL is resolved past the include.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from functools import wraps
from types import ModuleType
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, URLResolver
from django.urls.exceptions import Resolver404
from django.urls.resolvers import ResolverMatch, RoutePattern

AsyncView = Callable[..., Coroutine[Any, Any, HttpResponseBase]]

UNAUTHORIZED = "Send the metrics token: Authorization: Bearer <token>.\n"


class LabResolver(URLResolver):
    """An include that matches no path while ``HELLO_ASYNC_LAB`` is off."""

    def resolve(self, path: str) -> ResolverMatch:
        if not settings.HELLO_ASYNC_LAB:
            raise Resolver404({"path": path})  # what an include whose prefix differs raises
        return super().resolve(path)


def lab_path(route: str, urlconf: str | ModuleType) -> URLResolver:
    """``path(route, include(urlconf))``, routed only while ``HELLO_ASYNC_LAB`` is on."""
    return LabResolver(RoutePattern(route, is_endpoint=False), urlconf)


class LabPattern(URLPattern):
    """A route that matches no path while ``HELLO_ASYNC_LAB`` is off (``reverse`` still works)."""

    def resolve(self, path: str) -> ResolverMatch | None:
        if not settings.HELLO_ASYNC_LAB:
            return None  # what a route whose pattern differs returns
        return super().resolve(path)


def lab_route(route: str, view: AsyncView, *, name: str) -> URLPattern:
    """``path(route, view, name=name)``, routed only while ``HELLO_ASYNC_LAB`` is on."""
    return LabPattern(RoutePattern(route, name=name, is_endpoint=True), view, name=name)


def metrics_guard(view: AsyncView) -> AsyncView:
    """``view`` behind the metrics token in production. Put it outermost: a refused request
    then learns nothing from a 405 either."""

    @wraps(view)
    async def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refused = metrics_refusal(request)
        if refused is not None:
            return refused
        return await view(request, *args, **kwargs)

    return guarded


def metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when ``request`` may read the metrics; else the 401 to send (Http404 when off)."""
    if not settings.PRODUCTION:
        return None
    token: str = settings.HELLO_ASYNC_METRICS_TOKEN
    if not token:
        raise Http404("/metrics is off in production until HELLO_ASYNC_METRICS_TOKEN is set.")
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    # compare_digest takes as long wherever the first difference is. It gets bytes (it refuses
    # str with non-ASCII characters): the header's as the client sent them (ASGI and WSGI servers
    # hand Django headers decoded as latin-1), the token's as they were in the environment.
    try:
        given = credentials.strip().encode("latin-1")
    except UnicodeEncodeError:  # a str no server produces (a test client's): not the token
        given = b""
    expected = token.encode("utf-8", "surrogateescape")
    # The scheme is case-insensitive (RFC 7235).
    if scheme.lower() == "bearer" and hmac.compare_digest(given, expected):
        return None
    response = HttpResponse(UNAUTHORIZED, status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = "Bearer"
    return response
