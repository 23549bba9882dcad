"""The project's endpoints, read from the URLconf, for tests that must cover every one."""

from __future__ import annotations

from collections.abc import Iterator

from asgiref.sync import iscoroutinefunction
from django.urls import URLPattern, URLResolver, get_resolver


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str
) -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif "<" not in route and "(" not in route:  # paths without parameters
            yield "/" + route, pattern


def endpoints() -> list[str]:
    """Every parameterless path, except Django's admin."""
    return [
        path for path, _ in _walk(get_resolver().url_patterns, "") if not path.startswith("/admin")
    ]


def async_endpoints() -> list[str]:
    """The endpoints whose view is a coroutine function (an async view)."""
    return [
        path
        for path, pattern in _walk(get_resolver().url_patterns, "")
        if not path.startswith("/admin") and iscoroutinefunction(pattern.callback)
    ]
