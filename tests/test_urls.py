"""The admin's include is last in urlpatterns (cheaper for every other URL): nothing else moved."""

from __future__ import annotations

import types
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

from hello_async import urls

ADMIN = "admin/"


def _leaf_routes(patterns: list[Any], prefix: str = "") -> list[tuple[Any, str]]:
    routes: list[tuple[Any, str]] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _leaf_routes(pattern.url_patterns, route)
        else:
            assert isinstance(pattern, URLPattern)
            routes.append((pattern.pattern, route))
    return routes


def test_no_route_outside_the_admin_matches_a_path_under_admin() -> None:
    (admin,) = [p for p in urls.urlpatterns if str(p.pattern) == ADMIN]
    assert urls.urlpatterns[-1] is admin
    for pattern in urls.urlpatterns[:-1]:
        leaves = _leaf_routes([pattern])
        for leaf, route in leaves:
            assert isinstance(leaf, RoutePattern), route  # no regex: the route says it all
            literal = route.split("<", 1)[0]
            if literal == route:  # no converter: matches exactly this path
                assert not route.startswith(ADMIN), route
            else:
                assert literal and not ADMIN.startswith(literal), route
                assert not literal.startswith(ADMIN), route


PATHS = [
    "/",
    "/async/",
    "/smoke_some_meats/",
    "/smoke_orders/abc/",
    "/compare/gathered/",
    "/healthz",
    "/lab/run/",
    "/i18n/setlang/",
    "/admin/",
    "/admin/login/",
    "/admin/auth/user/",
    "/admin/auth/user/1/change/",
    "/admin/healthz",
    "/admin",
    "/nope/",
    "/async",
]


def _outcome(path: str, urlconf: Any) -> Any:
    try:
        match = resolve(path, urlconf=urlconf)
    except Resolver404:
        return None
    return (match.func, match.args, match.kwargs, match.url_name, match.route, match.namespaces)


@pytest.mark.parametrize("path", PATHS)
def test_each_path_resolves_as_with_the_admin_first(path: str) -> None:
    admin_first = types.ModuleType("admin_first")
    admin_first.urlpatterns = [urls.urlpatterns[-1], *urls.urlpatterns[:-1]]  # type: ignore[attr-defined]
    outcome = _outcome(path, "hello_async.urls")
    assert outcome == _outcome(path, admin_first)
    assert (outcome is None) == (path in {"/admin", "/nope/", "/async"})
