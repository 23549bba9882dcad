"""The live views: the article's lines as server-sent events, for curl and for the console page."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from hello_async.article import kitchen
from hello_async.errors import BadRequest, UpstreamError
from hello_async.live import console
from hello_async.logs import context, taps
from hello_async.streams.broker import Subscription
from hello_async.streams.sse import require_asgi, sse_head, sse_response
from hello_async.streams.subscribers import Event, get_streams
from hello_async.web.lean import lean_middleware
from hello_async.web.responses import plain_text

logger = logging.getLogger(__name__)


FINISHED = ":end"  # the id of a run's last event (its result or its error)


@lean_middleware
@require_safe
async def smoke_some_meats_live(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """/smoke_some_meats/live/, live: each of its lines as it happens, then its answer.

    Every event has an id, ``<run>:<n>``, the last ``<run>:end``; a browser's ``EventSource``
    reconnects when a stream ends, sending the last id it saw as ``Last-Event-ID``: the id of a
    finished run gets 204 (which stops it), not a new smoke. A run the client left mid-way was
    cancelled then, so its id starts a new one."""
    require_asgi(request)
    if request.headers.get("Last-Event-ID", "").endswith(FINISHED):
        return HttpResponse(status=204)
    if request.method == "HEAD":
        return sse_head()
    subscriber = get_streams().subscribe("live")  # Busy: 503 with Retry-After
    request_id = context.request_id.get() or context.new_request_id()  # none under a test client
    work: asyncio.Task[None] | None = None
    numbers = itertools.count(1)

    def send(name: str, data: str, *, last: bool = False) -> None:
        ident = f"{request_id}{FINISHED}" if last else f"{request_id}:{next(numbers)}"
        subscriber.publish(Event(name, data, id=ident))

    def line(record: logging.LogRecord) -> None:
        for text in record.getMessage().split("\n"):  # an event a line, as the console prints
            send("line", text)

    async def smoke() -> None:
        try:
            result = await kitchen.asmoke_some_meats()
        except UpstreamError as exc:
            # As web/middleware.py answers it: the detail in the log, a stranger told what failed.
            logger.warning("The live smoke failed (request %s): %s", request_id, exc)
            send("error", exc.shown(detailed=not settings.PRODUCTION), last=True)
        except Exception:
            logger.exception("The live smoke failed")
            send("error", "Internal error: the smoke failed.", last=True)
        else:
            send("result", f"Smoked {result.count} meats with {result.flavor}!", last=True)
        finally:
            subscriber.end()

    def start() -> None:  # the stream is being sent: the work starts, its lines tapped
        nonlocal work
        taps.add(request_id, line)
        run_as = contextvars.copy_context()  # the request's id on its lines, whoever iterates
        run_as.run(context.request_id.set, request_id)
        work = asyncio.create_task(smoke(), name=f"live {request_id}", context=run_as)

    def stop() -> None:  # the stream is over, or the client left: the work stops with it
        if work is not None:
            work.cancel()
        taps.remove(request_id, line)

    response = sse_response(subscriber, on_start=start, on_close=stop)
    response["X-Request-Id"] = request_id  # the id its log lines carry (HELLO_ASYNC_LOG_FORMAT)
    return response


# --- the console ---------------------------------------------------------------------------------

# The buttons: what each sends, and what to watch.
BUTTONS = [
    ("/", [("GET", "/")]),
    ("/async/", [("GET", "/async/")]),
    ("/sync/", [("GET", "/sync/")]),
    ("/sync_to_async/", [("GET", "/sync_to_async/")]),
    ("/smoke_some_meats/", [("GET", "/smoke_some_meats/")]),
    ("/burn_some_meats/", [("GET", "/burn_some_meats/"), ("GET", "/")]),
]


@never_cache
@require_safe
async def console_page(request: HttpRequest) -> HttpResponse:
    """The article's console, in the browser: each request's lines on one time axis."""
    strings = {
        "sent": _("sent"),
        "answered": _("answered"),
        "line": _("server"),
        "beside": _("sent beside it"),
        "ms": _("ms"),
        "dropped": _("The console fell behind and was disconnected; reload the page."),
        "closed": _("The connection to the server was lost; reload the page."),
        "busy": _("Too many consoles are open; try again shortly."),
    }
    # The visitor's token: the one its cookie already carries (another tab), or a new one.
    token = console.token_of(request) or console.mint_token()
    context_ = {
        "token": token,
        "buttons": [(label, [path for _, path in requests]) for label, requests in BUTTONS],
        "events_url": reverse("console-events"),
        "strings": strings,
        "page": "console",
    }
    response = render(request, "live/console.html", context_)
    console.bind(response, token, secure=request.is_secure())
    return response


@require_safe
async def console_events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    token = request.GET.get("session", "")
    if not 16 <= len(token) <= 64 or not token.replace("-", "").replace("_", "").isalnum():
        raise BadRequest("session must be the console page's token")
    if not console.owns(console.token_of(request), token):
        return plain_text(console.FORBIDDEN.decode(), status=403)
    require_asgi(request)
    if request.method == "HEAD":
        return sse_head()
    subscriber = get_streams().subscribe("console", endless=True)
    subscriptions: list[Subscription] = []
    return sse_response(
        subscriber,
        on_start=lambda: subscriptions.append(console.open_stream(token, subscriber)),
        on_close=lambda: subscriptions[0].close(),
    )
