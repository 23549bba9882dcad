"""Django's ASGI handler (with django-asgi-lifespan's lifespan), minus thread hops it does not need.

Under ASGI, Django wraps each request in a ``ThreadSensitiveContext``: the first thread-sensitive
``sync_to_async`` call of the request creates a thread for it, and every later one runs there.
Stock Django makes such calls on every request, even one that never touches sync code:

1. ``request_started.asend()`` runs the sync receivers (``reset_queries``,
   ``close_old_connections``) through ``sync_to_async``;
2. ``sync_to_async(response.close)()`` at the end, which sends ``request_finished`` (its
   receivers close the database connections *of that thread*).

For a request whose own code never went to a thread, both are pointless: the thread they create is
brand new and holds no connection. So here:

1. ``request_started`` is sent inline on the loop when it has no async receivers (the sync ones
   then act on the loop thread, which never holds a database connection: the ORM runs in threads);
2. ``response.close()`` runs inline when the request's context made no thread; when it did (a sync
   view, sync middleware, the async ORM...), it still runs in that thread, as Django does, so the
   connections that thread opened are closed or returned to the pool.

Django also races the view against ``listen_for_disconnect`` in an ``asyncio.TaskGroup``, whose
exception groups and awaited cancellation cost more than a small view; ``respond()`` keeps the
group's semantics with a done callback instead (tests/fastpath/test_handler.py runs the same
scenarios on Django's handler and on ours and compares the outcomes).

And the middleware: every stock ``MiddlewareMixin`` hook costs a hop to that thread too. The
middleware named in ``settings.MIDDLEWARE`` that ``hello_async.fastpath.middleware`` knows are
loaded as its inline versions, which run their hooks on the loop unless a hook may do I/O.

``handle`` and ``load_middleware`` are Django 6.1's, with those changes (marked
``# hello_async:``). tests/fastpath/test_handler.py fails if Django's originals or asgiref's
per-context executors change, so the fork is reviewed on every upgrade.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import closing
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpResponseBase
from django.http.response import ResponseHeaders
from django.urls import set_script_prefix
from django.utils.module_loading import import_string
from django_asgi_lifespan.handler import LifespanASGIHandler

from hello_async.fastpath.receivers import close_response, send_sync_receivers

logger = logging.getLogger("django.request")

# sha256 of inspect.getsource() of the Django and asgiref methods forked or inlined here
# (Django 6.1.3, asgiref 3.13.0).
FORKED_SHA256 = {
    "django.core.handlers.asgi.ASGIHandler.handle": (
        "c91f27c7fcdc3fff4f1c7082e91cb30f0bfaa5781ca632a116b1d9e607fd752a"
    ),
    "django.core.handlers.base.BaseHandler.load_middleware": (
        "b75c13d1041e06d98675e980fd65a1278112e17192d1dfbd06a4559b2c5eba7a"
    ),
    # HelloASGIHandler.send_response: Django's, reading ResponseHeaders' store directly.
    "django.core.handlers.asgi.ASGIHandler.send_response": (
        "d91e83d2c6859eda84c27849a03f1f4e4b84459f27db951cf95c9155cf4ff6ed"
    ),
    "django.core.handlers.asgi.ASGIHandler.chunk_bytes": (
        "6c045731cd77bd2da8253e0a55f1d1e8c9c6c78f412f73a4592d5df5dfb6a6ad"
    ),
    "django.http.response.HttpResponseBase.items": (
        "e7eb0d1de3dff802c7e32d19236b0d7ccb807df1345d59ee2563b2fff86c976b"
    ),
    "django.http.response.ResponseHeaders.__setitem__": (
        "ec78a9c6b2bc2b8ca0b4a2b096b28b82481d836f35938da180806d2590bc1c14"
    ),
    "django.utils.datastructures.CaseInsensitiveMapping.__iter__": (
        "8fd80f8829fc14f8c19a932798df4343e5cbce91247e0ccd0a43045c1be8833b"
    ),
    "django.utils.datastructures.CaseInsensitiveMapping.__getitem__": (
        "50522e6951e62263533e5128ac3f5dfdeb8aeb4b5c112777aebd7f9a3f37f244"
    ),
    # hello_async.web.params.text() builds what these build for a text body.
    "django.http.response.HttpResponseBase.__init__": (
        "c9cd91385579053e05889c3e6c21e94c99acd8544cff698b20254f09e14021ab"
    ),
    "django.http.response.HttpResponse.__init__": (
        "7b59f02a4ec510bf2bd90f7164a2ade1ddb93171851c2ab81c5aafb7216755c1"
    ),
    "django.http.response.ResponseHeaders.__init__": (
        "1a14383b0da69b1f29b94fff8a378edc597624fa0e7762f81dc16f26c82adc22"
    ),
    "django.http.response.HttpResponseBase.make_bytes": (
        "ac7739258e586d723c7330c0a1d44b101971044fe74cef65b3ab6819cf316865"
    ),
    # hello_async.fastpath.receivers: Django's request signal receivers, asgiref's Local reads.
    "asgiref.local._ThreadCriticalLocal.__getattr__": (
        "e48d8b058f4243faeb3cc7f00c94d576837c9f1e1ab5f5ea801e2476a8b75824"
    ),
    "asgiref.local._ThreadCriticalLocal._get_storage": (
        "ba849d5b66bcb88109e2c5465a2ccb6373218b392367c8f9053155afd5647a58"
    ),
    "asgiref.local._DefaultLocal.__getattr__": (
        "e68327aa9746ab2d9302b4a7515389e15c8667a46ad1042f737c3e53285dc944"
    ),
    "asgiref.local._CVar.__getattr__": (
        "3f17578ef129fb79b05e90f0d9409e962d634165ea38866d11442c33445c6f35"
    ),
    "asgiref.local._CVar._storage": (
        "37bfde39a7ef0ef3744dbda3719f50d0308432c76e35ac687f57dcf3f4d0aeee"
    ),
    "asgiref.local.Local.__new__": (
        "8d1688ca0d970fd65c502c2201653fb11a3850dfb988490e3178ab06788a51cb"
    ),
    "django.utils.connection.BaseConnectionHandler.all": (
        "025dd23cb80fcc62a12cd8c996fe8ef7b967a96758650452f6eceb3276a00606"
    ),
    "django.utils.connection.BaseConnectionHandler.close_all": (
        "4faac3895c01a40be9e051bf9b8f3dedbf3dd7e4e91267bc2b0466fc225a31ca"
    ),
    "django.db.reset_queries": ("9989bcde56b2f76a5f82e3e24bccd1808759ca6ae72b501470e171628f1fe712"),
    "django.db.close_old_connections": (
        "c352dd45e8333c97d83fb0905f187e31475cb3d8bb9308611077febb6e21deb6"
    ),
    "django.core.cache.close_caches": (
        "abe7badf0640b1466b5352dffad178f043f14c2dfab96eabb1275b50f4e301a6"
    ),
    "django.core.handlers.base.reset_urlconf": (
        "7ad5ce3f320f5c51f1a6bc7867df5574482acc6df32968e4bb7842026b4d4707"
    ),
    "django.urls.base.set_urlconf": (
        "a800ca3136841f64c5a19622370cd41ef268cf1d9580532f6ce80b7960631407"
    ),
    "django.http.response.HttpResponseBase.close": (
        "84589f5b23acbb23aa9010f3506ef411b72b1053f2fc2764590e2b3bf3470438"
    ),
    # hello_async.fastpath.middleware.SecurityMiddleware.process_response: Django's, into the store.
    "django.middleware.security.SecurityMiddleware.__init__": (
        "096cff06172f48fa72e757fc13dd519c75edfa52c6e346cbd069449eb736467d"
    ),
    "django.middleware.security.SecurityMiddleware.process_response": (
        "3822bd0d5f79f4a3760ccfedc88f297d450e340c76cc9d926539fe6164b59a98"
    ),
    "django.http.response.ResponseHeaders.setdefault": (
        "dfe867a234f02007d096defce358161613052ed97c9324c8890fb1100d16b6a8"
    ),
    "django.http.response.HttpResponseBase.setdefault": (
        "bc633c6cd401c69fae81fbfcabc9567196e5f0a6716cfecaa1138b4f57559c48"
    ),
    "django.http.response.HttpResponseBase.has_header": (
        "e45eee1f9fd4332bc0ddbcd3ead45db9671214309be5a2369b2addf12ec2ca23"
    ),
    # asend_request_started() runs Signal.send's loop over the receivers itself.
    "django.dispatch.dispatcher.Signal.send": (
        "85b22666b79ea97bcb7d2f41c92ee5225626971e948185bc8cde0c730be6c05b"
    ),
    # HelloASGIHandler.__call__ enters and leaves the ThreadSensitiveContext inline.
    "asgiref.sync.ThreadSensitiveContext.__aenter__": (
        "b0355bf6b275a7c21e22e80892e0aa84438fc1485469d0e75e333ea955c127f4"
    ),
    "asgiref.sync.ThreadSensitiveContext.__aexit__": (
        "5571fec562fa6e843ccb08e60deb367905ecfdf621077e952430d9a52401f0b5"
    ),
}


def context_has_thread() -> bool:
    """Whether the current ThreadSensitiveContext has made its thread (ran sync code)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


async def asend_request_started(sender: type, scope: dict[str, Any]) -> None:
    signal = signals.request_started
    sync_receivers, async_receivers = signal._live_receivers(sender)
    if async_receivers:
        await signal.asend(sender=sender, scope=scope)
    else:
        # Signal.send's loop, without looking the receivers up a second time (and Django's
        # receivers in their cheaper versions: hello_async.fastpath.receivers).
        send_sync_receivers(signal, sync_receivers, sender, scope=scope)


async def asend_request_finished(sender: type) -> None:
    """For a request that ended without a response (the client went away)."""
    sync_receivers, async_receivers = signals.request_finished._live_receivers(sender)
    if context_has_thread() or async_receivers:
        await signals.request_finished.asend(sender=sender)
    else:
        send_sync_receivers(signals.request_finished, sync_receivers, sender)


async def aclose_response(response: HttpResponseBase) -> None:
    if context_has_thread():
        await sync_to_async(response.close)()
    else:
        close_response(response)  # response.close(), Django's receivers in their cheaper versions


class HelloASGIHandler(LifespanASGIHandler):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._handle_lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # hello_async: ``async with ThreadSensitiveContext()``, its enter and exit (without an
        # executor) inline; only a request that made its thread awaits the real __aexit__,
        # which shuts that thread down.
        current = SyncToAsync.thread_sensitive_context
        if current.get(None) is not None:
            await self.handle(scope, receive, send)  # an enclosing context: asgiref adds none
            return
        context = ThreadSensitiveContext()
        context.token = current.set(context)
        try:
            await self.handle(scope, receive, send)
        finally:
            if context in SyncToAsync.context_to_thread_executor:
                await context.__aexit__(None, None, None)  # type: ignore[no-untyped-call]
            else:
                current.reset(context.token)
                context.token = None

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return

        with closing(body_file):
            set_script_prefix(get_script_prefix(scope))
            await asend_request_started(self.__class__, scope)  # hello_async: inline if sync only
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                assert error_response is not None
                body_file.close()
                await self.send_response(error_response, send)
                await aclose_response(error_response)  # hello_async: inline if no thread
                return

            # hello_async: Django's TaskGroup (the view, plus a task that listens for the
            # client's disconnect and cancels the view), without the group: see respond().
            response = await self.respond(request, receive, send)

            if response is None:
                await asend_request_finished(self.__class__)  # hello_async: inline if no thread
            else:
                await aclose_response(response)  # hello_async: inline if no thread

    async def respond(self, request: Any, receive: Any, send: Any) -> HttpResponseBase | None:
        """The response sent, or None when the client left first (its view was cancelled).

        Django runs the view and ``listen_for_disconnect`` in an ``asyncio.TaskGroup``; the
        group costs more than the view of a small endpoint (its exception groups, and a loop
        round to await the listener's cancellation). Same semantics here, as the group has them:
        a listener that fails (``RequestAborted`` when the client leaves) cancels this task,
        and that cancellation is taken back once the body has stopped; ``RequestAborted`` ends
        the request quietly, any other error propagates. A cancellation from outside still
        propagates. The listener is cancelled when the body ends, but not awaited.
        """
        watch = _ListenerWatch(asyncio.current_task())
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        listener.add_done_callback(watch)
        response = None
        try:
            # hello_async: the request's middleware chain (lean or full).
            response = await self.chain_for(request.path_info).run_get_response(request)
            await self.send_response(response, send)
        except asyncio.CancelledError:
            if watch.error is None or watch.uncancel() > 0:
                raise  # cancelled from outside
        except RequestAborted:
            pass
        finally:
            watch.body_done = True
            listener.cancel()
            if watch.error is not None:
                watch.uncancel()  # once, as the group does (the body may have swallowed it)
        if watch.error is not None and not isinstance(watch.error, RequestAborted):
            raise watch.error
        return response

    async def send_response(self, response: Any, send: Any) -> None:
        """Django's ``send_response``, cheaper for the common case (about 7 us -> 1.5 us).

        A plain ``HttpResponseBase`` whose headers are Django's ``ResponseHeaders``: the headers
        read straight from their store (not through the ``Mapping`` machinery, one case-folded
        lookup per header), and a body that fits in one chunk sent as one message without the
        ``chunk_bytes`` generator. The same messages as Django's; anything else is Django's.
        """
        if (
            response.streaming
            or type(response).items is not HttpResponseBase.items
            or type(response.headers) is not ResponseHeaders
        ):
            await super().send_response(response, send)
            return
        response_headers = []
        stored: Any = response.headers._store.values()  # (name, value) by lower-case name
        for header, value in stored:
            if isinstance(header, str):
                header = header.encode("ascii")
            if isinstance(value, str):
                value = value.encode("latin1")
            response_headers.append((bytes(header), bytes(value)))
        for c in response.cookies.values():
            response_headers.append((b"Set-Cookie", c.OutputString().encode("ascii")))
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response_headers,
            }
        )
        content = response.content
        if len(content) > self.chunk_size:
            for chunk, last in self.chunk_bytes(content):
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            return
        await send({"type": "http.response.body", "body": content, "more_body": False})

    def __init__(self) -> None:
        super().__init__()  # loads settings.MIDDLEWARE through load_middleware() below
        self.lean = _Chain(list(settings.HELLO_ASYNC_LEAN_MIDDLEWARE))
        self.lean_paths = frozenset(settings.HELLO_ASYNC_LEAN_PATHS)
        self.lean_prefixes = tuple(settings.HELLO_ASYNC_LEAN_PREFIXES)

    def load_middleware(self, is_async: bool = False) -> None:
        load_middleware(self, is_async=is_async, middleware_paths=list(settings.MIDDLEWARE))

    def chain_for(self, path: str) -> ASGIHandler:
        """The lean chain for the paths that need no session, CSRF, locale or HTML headers."""
        if path in self.lean_paths or path.startswith(self.lean_prefixes):
            return self.lean
        return self


class _ListenerWatch:
    """Done callback of the disconnect listener: cancels the request's task if it failed first."""

    __slots__ = ("body_done", "error", "task", "uncancelled")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        assert task is not None
        self.task = task
        self.error: BaseException | None = None
        self.body_done = False
        self.uncancelled = False

    def __call__(self, listener: asyncio.Task[Any]) -> None:
        if listener.cancelled():
            return
        error = listener.exception()  # retrieved even when it came too late to matter
        if error is None or self.body_done:
            return
        self.error = error
        self.task.cancel()

    def uncancel(self) -> int:
        """Takes back our cancellation, once; returns the task's remaining cancellations."""
        if self.uncancelled:
            return self.task.cancelling()
        self.uncancelled = True
        return self.task.uncancel()


class _Chain(ASGIHandler):
    """Django's handler state (middleware chain and hook lists) for one list of middleware."""

    def __init__(self, middleware_paths: list[str]) -> None:
        # Not ASGIHandler.__init__, which would load settings.MIDDLEWARE.
        load_middleware(self, is_async=True, middleware_paths=middleware_paths)


def load_middleware(base: Any, *, is_async: bool, middleware_paths: list[str]) -> None:
    """Django's ``BaseHandler.load_middleware`` for ``middleware_paths`` (hello_async: a list
    of our choosing, not only settings.MIDDLEWARE), loading inline versions where we have them."""
    # Imported here: the Django middleware it subclasses need the app registry.
    from hello_async.fastpath.middleware import REPLACEMENTS

    base._view_middleware = []
    base._template_response_middleware = []
    base._exception_middleware = []

    get_response = base._get_response_async if is_async else base._get_response
    handler = convert_exception_to_response(get_response)
    handler_is_async = is_async
    for middleware_path in reversed(middleware_paths):
        # hello_async: the inline version of a stock middleware, in async mode.
        middleware = REPLACEMENTS.get(middleware_path) if is_async else None
        middleware = middleware or import_string(middleware_path)
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


def get_asgi_application() -> HelloASGIHandler:
    import django

    django.setup(set_prefix=False)
    return HelloASGIHandler()
