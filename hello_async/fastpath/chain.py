"""The middleware chains of the fast path's handler: the full one, and the lean one.

:func:`load_middleware` is Django's ``BaseHandler.load_middleware`` for a list of our choosing,
loading the inline versions of Django's middleware (hello_async.fastpath.middleware) in place of
the classes ``settings.MIDDLEWARE`` names. The lean chain holds only what a plain-text or JSON
endpoint needs (the security headers, the error mapping); the views marked with
``hello_async.web.lean.lean_middleware`` take it, found once in the URLconf.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from hello_async import fastpath
from hello_async.web.lean import is_lean

logger = logging.getLogger("django.request")

LEAN_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hello_async.web.hosts.AllowedHostsMiddleware",  # the Host check of CommonMiddleware
    "hello_async.web.middleware.ErrorResponseMiddleware",
    "hello_async.ops.requestmetrics.RouteMiddleware",  # the route label of the request metrics
]


class Chain(ASGIHandler):
    """Django's handler state (middleware chain and hook lists) for one list of middleware."""

    def __init__(self, middleware_paths: list[str]) -> None:
        # Not ASGIHandler.__init__, which would load settings.MIDDLEWARE.
        load_middleware(self, is_async=True, middleware_paths=middleware_paths)


def lean_routes() -> tuple[frozenset[str], tuple[str, ...]]:
    """The paths of the lean views without parameters, and the prefixes of includes whose views
    are all lean (each include resolved once, here)."""
    paths: set[str] = set()
    prefixes: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> bool:
        all_lean = True
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                included_all_lean = walk(pattern.url_patterns, route)
                if included_all_lean and route and "<" not in route:
                    prefixes.append("/" + route)  # (an include at "" adds its paths one by one)
                all_lean = all_lean and included_all_lean
            elif is_lean(pattern.callback) and "<" not in route:
                paths.add("/" + route)
            else:
                all_lean = False
        return all_lean

    walk(get_resolver().url_patterns, "")
    return frozenset(paths), tuple(prefixes)


def load_middleware(base: Any, *, is_async: bool, middleware_paths: list[str]) -> None:
    """Django's ``BaseHandler.load_middleware`` for ``middleware_paths`` (hello_async: a list
    of our choosing, and inline versions of Django's middleware where we have them)."""
    # Imported here: the Django middleware it subclasses need the app registry.
    from hello_async.fastpath.middleware import replacements

    inline = replacements() if is_async and fastpath.enabled("middleware") else {}
    base._view_middleware = []
    base._template_response_middleware = []
    base._exception_middleware = []

    get_response = base._get_response_async if is_async else base._get_response
    handler = convert_exception_to_response(get_response)
    handler_is_async = is_async
    for middleware_path in reversed(middleware_paths):
        middleware = inline.get(middleware_path) or import_string(middleware_path)  # hello_async
        middleware_can_sync = getattr(middleware, "sync_capable", True)
        middleware_can_async = getattr(middleware, "async_capable", False)
        if not middleware_can_sync and not middleware_can_async:
            raise RuntimeError(
                f"Middleware {middleware_path} must have at least one of "
                "sync_capable/async_capable set to True."
            )
        elif not handler_is_async and middleware_can_sync:
            middleware_is_async = False
        else:
            middleware_is_async = middleware_can_async
        try:
            # Adapt handler, if needed.
            adapted_handler = base.adapt_method_mode(
                middleware_is_async,
                handler,
                handler_is_async,
                debug=settings.DEBUG,
                name="middleware %s" % middleware_path,  # noqa: UP031
            )
            mw_instance = middleware(adapted_handler)
        except MiddlewareNotUsed as exc:
            if settings.DEBUG:
                if str(exc):
                    logger.debug("MiddlewareNotUsed(%r): %s", middleware_path, exc)
                else:
                    logger.debug("MiddlewareNotUsed: %r", middleware_path)
            continue
        else:
            handler = adapted_handler

        if mw_instance is None:
            raise ImproperlyConfigured(
                "Middleware factory %s returned None." % middleware_path  # noqa: UP031
            )

        if hasattr(mw_instance, "process_view"):
            base._view_middleware.insert(
                0,
                base.adapt_method_mode(is_async, mw_instance.process_view),
            )
        if hasattr(mw_instance, "process_template_response"):
            base._template_response_middleware.append(
                base.adapt_method_mode(is_async, mw_instance.process_template_response),
            )
        if hasattr(mw_instance, "process_exception"):
            # The exception-handling stack is still always synchronous for
            # now, so adapt that way.
            base._exception_middleware.append(
                base.adapt_method_mode(False, mw_instance.process_exception),
            )

        handler = convert_exception_to_response(mw_instance)
        handler_is_async = middleware_is_async

    # Adapt the top of the stack, if needed.
    handler = base.adapt_method_mode(is_async, handler, handler_is_async)
    # We only assign to this when initialization is complete as it is used
    # as a flag for initialization being complete.
    base._middleware_chain = handler
