"""Django's ASGI handler (with django-asgi-lifespan's lifespan), its requests kept on the loop.

Stock Django runs every ASGI request in a ``ThreadSensitiveContext`` and sends it through a
thread several times even when no code of the request is sync: the ``request_started`` receivers,
every ``MiddlewareMixin`` hook, and ``response.close()``. Here each of those stays on the loop
unless the request's own code made a thread, or a receiver other than Django's own is connected
(hello_async.fastpath.signals, .middleware), and:

* ``respond()`` races the view against the client's disconnect as Django's ``TaskGroup`` does,
  with a done callback instead of the group, and makes the listener's task only when the view
  first waits (fork ``respond``);
* the views marked lean take a chain without the HTML middleware (fork ``lean_chain``);
* its I/O with the server (fork ``io``): a request without a body (every GET) is given an empty
  ``BytesIO``, not a spooled temporary file; a plain ``HttpResponse`` is sent from its header
  store in one message.

``handle`` is Django 6.1's, with those changes marked ``# hello_async:``. Each fork can be turned
off alone (hello_async.fastpath); ``handler`` off makes this class behave as Django's for the
thread hops. The code each fork copies is pinned in tests/pins.py.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextlib import closing
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpResponse, HttpResponseBase
from django.http.response import ResponseHeaders
from django.urls import set_script_prefix
from django_asgi_lifespan.handler import LifespanASGIHandler

from hello_async import fastpath
from hello_async.fastpath import chain
from hello_async.fastpath.signals import (
    aclose_response,
    asend_request_finished,
    asend_request_started,
)


class FastASGIHandler(LifespanASGIHandler):
    def __init__(self) -> None:
        super().__init__()  # loads settings.MIDDLEWARE through load_middleware() below
        self.inline = fastpath.enabled("handler")
        self.fast_respond = fastpath.enabled("respond")
        self.fast_io = fastpath.enabled("io")
        self.lean: ASGIHandler | None = None
        if fastpath.enabled("lean_chain"):
            self.lean = chain.Chain(chain.LEAN_MIDDLEWARE)
            self.lean_paths, self.lean_prefixes = chain.lean_routes()

    def load_middleware(self, is_async: bool = False) -> None:
        from django.conf import settings

        chain.load_middleware(self, is_async=is_async, middleware_paths=list(settings.MIDDLEWARE))

    def chain_for(self, path: str) -> ASGIHandler:
        """The lean chain for the views marked lean; the full one for everything else."""
        lean = self.lean
        if lean is not None and (path in self.lean_paths or path.startswith(self.lean_prefixes)):
            return lean
        return self

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._handle_lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        if not self.inline:
            async with ThreadSensitiveContext():
                await self.handle(scope, receive, send)
            return
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
            if self.inline:  # hello_async: inline when its receivers are all Django's
                await asend_request_started(self.__class__, scope)
            else:
                await signals.request_started.asend(sender=self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                assert error_response is not None
                body_file.close()
                await self.send_response(error_response, send)
                await self.aclose(error_response)
                return

            if self.fast_respond:  # hello_async: the group's semantics without the group
                response = await self.respond(request, receive, send)
            else:
                response = await self.respond_in_group(request, receive, send)

            if response is None:
                if self.inline:
                    await asend_request_finished(self.__class__)
                else:
                    await signals.request_finished.asend(sender=self.__class__)
            else:
                await self.aclose(response)

    async def read_body(self, receive: Any) -> Any:
        """Django's, but a request without a body (every GET: one message, no bytes) gets an
        empty ``BytesIO`` rather than a ``SpooledTemporaryFile`` with nothing written to it.
        A body of any size still goes through Django's spooled file (and its rollover to disk)."""
        if not self.fast_io:
            return await super().read_body(receive)
        message = await receive()
        if (
            message["type"] == "http.request"
            and not message.get("body")
            and not message.get("more_body", False)
        ):
            return io.BytesIO()

        async def replay() -> Any:  # the message already taken, then the rest
            nonlocal message
            if message is None:
                return await receive()
            first, message = message, None
            return first

        return await super().read_body(replay)

    async def send_response(self, response: Any, send: Any) -> None:
        """Django's, for a plain ``HttpResponse`` whose body fits one message: its headers read
        from the header store (what ``response.items()`` yields, without the mapping's views), the
        body sent whole (what ``chunk_bytes`` yields for it). Anything else: Django's."""
        content = None
        if (
            self.fast_io
            and type(response).items is HttpResponseBase.items
            and type(response.headers) is ResponseHeaders
            and not response.streaming
            and type(response).content is HttpResponse.content
        ):
            content = response.content
        if content is None or len(content) > self.chunk_size:
            await super().send_response(response, send)
            return
        headers = [
            (name.encode("ascii"), value.encode("latin1"))
            for name, value in response.headers._store.values()
        ]
        if response.cookies:
            for cookie in response.cookies.values():
                headers.append((b"Set-Cookie", cookie.OutputString().encode("ascii")))
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def aclose(self, response: HttpResponseBase) -> None:
        if self.inline:  # hello_async: inline when the request made no thread
            await aclose_response(response)
        else:
            await sync_to_async(response.close)()

    async def respond_in_group(
        self, request: Any, receive: Any, send: Any
    ) -> HttpResponseBase | None:
        """Django's: the view and ``listen_for_disconnect`` in an ``asyncio.TaskGroup``."""

        class RequestProcessed(Exception):
            pass

        response = None
        try:
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self.listen_for_disconnect(receive))
                    response = await self.chain_for(request.path_info).run_get_response(request)
                    await self.send_response(response, send)
                    raise RequestProcessed
            except* (RequestProcessed, RequestAborted):
                pass
        except BaseExceptionGroup as exception_group:
            if len(exception_group.exceptions) == 1:
                raise exception_group.exceptions[0]  # noqa: B904 (as Django has it)
            raise
        return response

    async def respond(self, request: Any, receive: Any, send: Any) -> HttpResponseBase | None:
        """The response sent, or None when the client left first (its view was cancelled).

        As the group has it: a listener that fails (``RequestAborted`` when the client leaves)
        cancels this task, and that cancellation is taken back once the body has stopped;
        ``RequestAborted`` ends the request quietly, any other error propagates; a cancellation
        from outside still propagates. The listener is cancelled when the body ends.

        The listener's task is made when the view and the send first wait (:class:`_UntilWaits`),
        not before: a view that answers without waiting (``/``) is done before a listener made
        first would have run once, as with Django's group, which cancels it unrun.
        """
        watch = _ListenerWatch(self.listen_for_disconnect, receive)
        try:
            await _UntilWaits(self.answer(request, send, watch), watch.start)
        except asyncio.CancelledError:
            if watch.error is None or watch.uncancel() > 0:
                raise  # cancelled from outside
        except RequestAborted:
            pass
        finally:
            watch.body_done = True
            if watch.listener is not None:
                watch.listener.cancel()
            if watch.error is not None:
                watch.uncancel()  # once, as the group does (the body may have swallowed it)
        if watch.error is not None and not isinstance(watch.error, RequestAborted):
            raise watch.error
        return watch.response

    async def answer(self, request: Any, send: Any, watch: _ListenerWatch) -> None:
        """The group's body: the view's response (kept on ``watch``), then its sending."""
        response = await self.chain_for(request.path_info).run_get_response(request)
        watch.response = response
        await self.send_response(response, send)


class _UntilWaits:
    """Awaits ``coro`` in the awaiting task, calling ``on_wait`` once, when it first waits
    (yields to the loop), before the task waits with it; if it finishes first, never.

    After that it hands every step straight on: ``yield from`` the coroutine's own iterator."""

    __slots__ = ("coro", "on_wait")

    def __init__(self, coro: Coroutine[Any, Any, Any], on_wait: Callable[[], None]) -> None:
        self.coro = coro
        self.on_wait = on_wait

    def __await__(self) -> Generator[Any, None, Any]:
        coro = self.coro
        try:
            waiting_for = coro.send(None)
        except StopIteration as done:
            return done.value
        try:
            self.on_wait()
        except BaseException:
            coro.close()
            raise
        while True:
            try:
                yield waiting_for  # the future it waits for, to the task: as ``await`` does
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as error:  # thrown in by the task (its cancellation)
                thrown: BaseException | None = error
            else:
                return (yield from coro.__await__())
            # Thrown in outside the except clause: the body must not see the error as the one
            # being handled (its own errors' __context__, a bare ``raise``), as with ``await``.
            try:
                waiting_for = coro.throw(thrown)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value
            finally:
                thrown = None


class _ListenerWatch:
    """The request's disconnect listener, made by :meth:`start`, and its done callback: it
    cancels the request's task if the listener failed first. Keeps the view's response."""

    __slots__ = (
        "body_done",
        "error",
        "listen",
        "listener",
        "receive",
        "response",
        "task",
        "uncancelled",
    )

    def __init__(self, listen: Callable[[Any], Awaitable[None]], receive: Any) -> None:
        self.listen = listen
        self.receive = receive
        self.listener: asyncio.Task[None] | None = None
        self.task: asyncio.Task[Any] | None = None
        self.response: HttpResponseBase | None = None
        self.error: BaseException | None = None
        self.body_done = False
        self.uncancelled = False

    def start(self) -> None:
        """In the request's task: the listener's own task, watched."""
        self.task = asyncio.current_task()
        self.listener = asyncio.create_task(self.listen(self.receive))  # type: ignore[arg-type]
        self.listener.add_done_callback(self)

    def __call__(self, listener: asyncio.Task[Any]) -> None:
        if listener.cancelled():
            return
        error = listener.exception()  # retrieved even when it came too late to matter
        if error is None or self.body_done:
            return
        self.error = error
        assert self.task is not None
        self.task.cancel()

    def uncancel(self) -> int:
        """Takes back our cancellation, once; returns the task's remaining cancellations."""
        assert self.task is not None
        if self.uncancelled:
            return self.task.cancelling()
        self.uncancelled = True
        return self.task.uncancel()
