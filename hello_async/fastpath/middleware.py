"""Django's stock middleware, run on the event loop instead of a thread when it does no I/O.

Every ``MiddlewareMixin`` middleware, in async mode, runs ``process_request`` and
``process_response`` through ``sync_to_async(thread_sensitive=True)``: on every request, each hook
is a round trip to a thread (and the first one creates the request's thread). Most of these hooks
only read headers and cookies or set headers; the few that may touch the database say so here:

* sessions: saving a modified session (``process_response``);
* messages: storing messages that were used or added (they may live in the session);
* CSRF: only with ``CSRF_USE_SESSIONS`` (the secret then lives in the session).

Each class below is the Django class with :class:`InlineHooksMixin`, which calls the hooks inline
on the loop unless ``request_needs_thread`` / ``response_needs_thread`` say the hook may block,
in which case it goes to the thread exactly as Django would; django.contrib's are made only
when ``settings.MIDDLEWARE`` names them, so a project without those apps still builds its
handler. hello_async.fastpath.chain loads these in place of the Django classes
``settings.MIDDLEWARE`` names (it keeps Django's names, so its system checks still recognise
them); tests/fastpath/test_middleware.py fails if a Django
class grows a hook this module does not know about. :class:`FastSecurityMiddleware` also sets
Django's security headers straight into the response's store (fork ``security``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.http.response import ResponseHeaders
from django.middleware import clickjacking, common, csp, csrf, locale, security
from django.utils.deprecation import MiddlewareMixin

from hello_async import fastpath


class InlineHooksMixin(MiddlewareMixin):
    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        # Looked up once, not on every request (the hooks are methods of the class).
        self._process_request: Callable[..., Any] | None = getattr(self, "process_request", None)
        self._process_response: Callable[..., Any] | None = getattr(self, "process_response", None)
        # A class that keeps the defaults below never needs the thread: no call per request.
        cls = type(self)
        self._request_may_need_thread = (
            cls.request_needs_thread is not InlineHooksMixin.request_needs_thread
        )
        self._response_may_need_thread = (
            cls.response_needs_thread is not InlineHooksMixin.response_needs_thread
        )

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = self._process_request
        if process_request is not None:
            if self._request_may_need_thread and self.request_needs_thread(request):
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
            else:
                response = process_request(request)
        response = response or await self.get_response(request)  # type: ignore[misc]
        process_response = self._process_response
        if process_response is not None:
            if self._response_may_need_thread and self.response_needs_thread(request, response):
                response = await sync_to_async(process_response, thread_sensitive=True)(
                    request, response
                )
            else:
                response = process_response(request, response)
        return response  # type: ignore[no-any-return]


class SecurityMiddleware(InlineHooksMixin, security.SecurityMiddleware):
    pass


class FastSecurityMiddleware(SecurityMiddleware):
    """Django's, with each header Django would set checked and encoded once, at start-up, and
    set straight into a ``ResponseHeaders`` store unless present (what ``setdefault`` does).
    Other responses get Django's ``process_response``; tests/fastpath/test_middleware.py
    compares the two under several settings."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        sts = None
        if self.sts_seconds:
            sts = "max-age=%s" % self.sts_seconds  # noqa: UP031 (Django's)
            if self.sts_include_subdomains:
                sts += "; includeSubDomains"
            if self.sts_preload:
                sts += "; preload"
        referrer_policy: Any = getattr(self, "referrer_policy", None)
        coop: Any = getattr(self, "cross_origin_opener_policy", None)
        defaults: list[tuple[str, Any]] = []
        if self.content_type_nosniff:
            defaults.append(("X-Content-Type-Options", "nosniff"))
        if referrer_policy:
            defaults.append(
                (
                    "Referrer-Policy",
                    ",".join(
                        [v.strip() for v in referrer_policy.split(",")]
                        if isinstance(referrer_policy, str)
                        else referrer_policy
                    ),
                )
            )
        if coop:
            defaults.append(("Cross-Origin-Opener-Policy", coop))
        # (lower-case name, (name, value)) as ResponseHeaders.__setitem__ stores them; None (all
        # Django's) if a value fails there: Django then raises on each response, as before.
        self._sts_item: tuple[str, tuple[str, str]] | None = None
        self._default_items: tuple[tuple[str, tuple[str, str]], ...] | None = None
        try:
            encoded = ResponseHeaders({})
            if sts:
                encoded["Strict-Transport-Security"] = sts
                self._sts_item = encoded._store.popitem()
            items = []
            for name, value in defaults:
                encoded[name] = value
                items.append(encoded._store.popitem())
        except (ValueError, TypeError):  # BadHeaderError, UnicodeError
            self._sts_item = None
            return
        self._default_items = tuple(items)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> Any:
        headers = response.headers
        default_items = self._default_items
        if (
            default_items is None
            or type(headers) is not ResponseHeaders
            or type(response).setdefault is not HttpResponseBase.setdefault
            or type(response).has_header is not HttpResponseBase.has_header
        ):
            return super().process_response(request, response)  # type: ignore[arg-type]
        store = headers._store
        sts_item = self._sts_item
        if sts_item is not None and request.is_secure() and sts_item[0] not in store:
            store[sts_item[0]] = sts_item[1]
        for key, item in default_items:
            if key not in store:
                store[key] = item
        return response


class ContentSecurityPolicyMiddleware(InlineHooksMixin, csp.ContentSecurityPolicyMiddleware):
    pass


class LocaleMiddleware(InlineHooksMixin, locale.LocaleMiddleware):
    pass


class CommonMiddleware(InlineHooksMixin, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(InlineHooksMixin, clickjacking.XFrameOptionsMiddleware):
    pass


# django.contrib's, each made (and its Django module imported) only when settings.MIDDLEWARE
# names it: those modules need their apps installed (auth's imports its models and contenttypes').


@functools.cache
def authentication_middleware() -> type[InlineHooksMixin]:
    from django.contrib.auth import middleware as auth

    class AuthenticationMiddleware(InlineHooksMixin, auth.AuthenticationMiddleware):
        """request.user and request.auser are lazy: nothing is read until a view asks."""

    return AuthenticationMiddleware


@functools.cache
def session_middleware() -> type[InlineHooksMixin]:
    from django.contrib.sessions import middleware as sessions

    class SessionMiddleware(InlineHooksMixin, sessions.SessionMiddleware):
        """The session store is lazy; only a save (modified, or SESSION_SAVE_EVERY_REQUEST)
        blocks."""

        def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
            session = getattr(request, "session", None)
            return session is not None and (
                bool(session.modified) or bool(settings.SESSION_SAVE_EVERY_REQUEST)
            )

    return SessionMiddleware


@functools.cache
def message_middleware() -> type[InlineHooksMixin]:
    from django.contrib.messages import middleware as messages

    class MessageMiddleware(InlineHooksMixin, messages.MessageMiddleware):
        """Storing messages may write the session: only when messages were used or added."""

        def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
            storage = getattr(request, "_messages", None)
            return storage is not None and bool(storage.used or storage.added_new)

    return MessageMiddleware


class CsrfViewMiddleware(InlineHooksMixin, csrf.CsrfViewMiddleware):
    """Reads a cookie and the (already received) form body; the session only with
    CSRF_USE_SESSIONS, and then every hook goes to the thread."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if self.async_mode and not settings.CSRF_USE_SESSIONS:
            # Django adapts a sync process_view with sync_to_async; an async one runs inline.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    async def _aprocess_view(
        self,
        request: HttpRequest,
        callback: Callable[..., Any],
        callback_args: Any,
        callback_kwargs: Any,
    ) -> HttpResponseBase | None:
        return csrf.CsrfViewMiddleware.process_view(
            self, request, callback, callback_args, callback_kwargs
        )

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)


# The Django class each one stands in for, by the dotted path settings.MIDDLEWARE uses.
REPLACEMENTS: dict[str, type[InlineHooksMixin]] = {
    "django.middleware.security.SecurityMiddleware": SecurityMiddleware,
    "django.middleware.csp.ContentSecurityPolicyMiddleware": ContentSecurityPolicyMiddleware,
    "django.middleware.locale.LocaleMiddleware": LocaleMiddleware,
    "django.middleware.common.CommonMiddleware": CommonMiddleware,
    "django.middleware.csrf.CsrfViewMiddleware": CsrfViewMiddleware,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": XFrameOptionsMiddleware,
}
# The same for django.contrib's, made when first asked for.
CONTRIB_REPLACEMENTS: dict[str, Callable[[], type[InlineHooksMixin]]] = {
    "django.contrib.sessions.middleware.SessionMiddleware": session_middleware,
    "django.contrib.auth.middleware.AuthenticationMiddleware": authentication_middleware,
    "django.contrib.messages.middleware.MessageMiddleware": message_middleware,
}


def replacements() -> dict[str, type[InlineHooksMixin]]:
    """REPLACEMENTS, with contrib's that settings.MIDDLEWARE names, and the faster
    SecurityMiddleware unless its fork is off."""
    named = set(settings.MIDDLEWARE)
    found = {**REPLACEMENTS}
    for path, make in CONTRIB_REPLACEMENTS.items():
        if path in named:
            found[path] = make()
    if fastpath.enabled("security"):
        found["django.middleware.security.SecurityMiddleware"] = FastSecurityMiddleware
    return found
