"""The article's console, per visitor: the lines of their own requests, as they happen, from
whichever process or host serves them.

``GET /console/`` mints the visitor's token (or keeps the one its cookie already carries), binds it
to a signed, HttpOnly, SameSite=Strict cookie, and writes it in the page (``data-session``). The
page opens ``/console/events/?session=T`` and sends the article's requests with an
``X-Console-Session: T`` header. Both must come with the cookie the token was minted for, or they
are refused with 403: a token alone (read off a screen or a log) takes nothing over.

:class:`ConsoleMiddleware` (an ASGI wrapper) follows a request with the header: from then on
every log record of that request, its background work included (the request's id travels in
context variables into tasks and threads), is published on the broker's channel
``console:<token>`` as a ``line`` with ``t``, the milliseconds since the request arrived; the
answer goes out as a ``response`` with its ``t`` when it is sent. The stream subscribes to that
channel wherever it runs and says ``ready`` once the subscription is live, so a request the page
sends after that is followed whichever process or host serves it.

A process follows a request's records for :data:`FOLLOW_SECONDS` after it arrived (its background
work included), at most :data:`MAX_REQUESTS` requests per token and :data:`MAX_FOLLOWED` in all
(the oldest forgotten first).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie

from hello_async.logs import context, taps
from hello_async.streams.broker import Message, Subscription, get_broker
from hello_async.streams.subscribers import Event, Subscriber
from hello_async.web.asgi_types import ASGIApp, Receive, Scope, Send
from hello_async.web.asgi_types import Message as ASGIMessage

HEADER = b"x-console-session"
CLIENT_HEADER = b"x-console-request"  # the page's own name for the request (at most 32 chars)
COOKIE = "hello_async_console"
SALT = "hello_async.live.console"
TOKEN_BYTES = 16
MAX_REQUESTS = 100  # followed per token
MAX_FOLLOWED = 10_000  # followed by this process in all
FOLLOW_SECONDS = 60.0  # a request's lines (its background work's too) followed this long


def channel(token: str) -> str:
    return f"console:{token}"


# --- the token and its cookie ---------------------------------------------------------------


def mint_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_of_cookie(value: str | None) -> str | None:
    """The token a console cookie was signed for; None when it is missing or forged."""
    if not value:
        return None
    try:
        return signing.get_cookie_signer(salt=SALT).unsign(value)
    except signing.BadSignature:
        return None


def token_of(request: HttpRequest) -> str | None:
    return token_of_cookie(request.COOKIES.get(COOKIE))


def owns(cookie_token: str | None, token: str) -> bool:
    return cookie_token is not None and secrets.compare_digest(cookie_token, token)


def bind(response: HttpResponse, token: str, *, secure: bool) -> None:
    """The cookie that makes ``token`` this browser's: signed, HttpOnly, SameSite=Strict."""
    signed = signing.get_cookie_signer(salt=SALT).sign(token)
    response.set_cookie(COOKIE, signed, httponly=True, samesite="Strict", secure=secure)


# --- the stream -----------------------------------------------------------------------------


def open_stream(token: str, subscriber: Subscriber) -> Subscription:
    """``subscriber`` gets the events of ``token``'s requests, from any process, from now on."""

    def handle(message: Message) -> None:
        name, data = message.get("event"), message.get("data")
        if isinstance(name, str):
            subscriber.publish(Event(name, data))

    # The page sends its requests once this arrives: a request sent before the subscription is
    # live would be published to nobody.
    return get_broker().subscribe(
        channel(token), handle, on_ready=lambda: subscriber.publish(Event("ready", {}))
    )


# --- following requests ---------------------------------------------------------------------


class _Followed:
    """A request this process follows: its records published on its console's channel."""

    def __init__(self, request_id: str, token: str) -> None:
        self.request_id = request_id
        self.channel = channel(token)
        self.token = token
        self.arrived = time.time()

    def publish(self, name: str, data: dict[str, Any]) -> None:
        get_broker().publish(self.channel, {"event": name, "data": data})

    def since(self, moment: float) -> float:
        return round((moment - self.arrived) * 1000, 1)

    def line(self, record: logging.LogRecord) -> None:  # a tap: any thread
        t = self.since(record.created)
        for text in record.getMessage().split("\n"):  # an event a line, as the console prints
            data = {"request": self.request_id, "t": t, "level": record.levelname, "text": text}
            self.publish("line", data)


_followed: OrderedDict[str, _Followed] = OrderedDict()  # by request id, oldest first
_by_token: dict[str, OrderedDict[str, None]] = {}  # token -> its followed request ids


def follow(request_id: str, token: str) -> _Followed:
    """Follow ``request_id``'s records for ``token``'s console (on the serving loop)."""
    followed = _Followed(request_id, token)
    _followed[request_id] = followed
    mine = _by_token.setdefault(token, OrderedDict())
    mine[request_id] = None
    taps.add(request_id, followed.line)
    while len(mine) > MAX_REQUESTS:
        forget(next(iter(mine)))
    while len(_followed) > MAX_FOLLOWED:
        forget(next(iter(_followed)))
    asyncio.get_running_loop().call_later(FOLLOW_SECONDS, forget, request_id)
    return followed


def forget(request_id: str) -> None:
    followed = _followed.pop(request_id, None)
    if followed is None:
        return
    taps.remove(request_id, followed.line)
    mine = _by_token.get(followed.token)
    if mine is not None:
        mine.pop(request_id, None)
        if not mine:
            del _by_token[followed.token]


FORBIDDEN = b"The console session belongs to another browser: open /console/ to get your own.\n"


class ConsoleMiddleware:
    """Ties a request carrying a console token to that console's channel; 403 for a token
    presented without the cookie it was minted for."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def passes(self, scope: Scope) -> bool:
        """Whether the request carries no console header (nothing to follow or refuse)."""
        for name, _ in scope.get("headers", ()):  # noqa: SIM110 (a loop: no generator a request)
            if name == HEADER:
                return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.passes(scope):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        token = next(value.decode("latin-1") for name, value in headers if name == HEADER)
        client = ""
        cookies: list[str] = []
        for name, value in headers:
            if name == CLIENT_HEADER:
                client = value.decode("latin-1")[:32]
            elif name == b"cookie":
                cookies.append(value.decode("latin-1"))
        if not owns(token_of_cookie(parse_cookie("; ".join(cookies)).get(COOKIE)), token):
            await _forbidden(send)
            return
        request_id = context.request_id.get()
        broker = get_broker()
        if request_id is None or (
            # In-process, nobody listens unless a stream of this process does.
            not broker.crosses_processes and not broker.has_subscribers(channel(token))
        ):
            await self.app(scope, receive, send)
            return
        followed = follow(request_id, token)
        method, path = str(scope.get("method", "")), str(scope.get("path", ""))
        followed.publish(
            "request", {"request": request_id, "client": client, "method": method, "path": path}
        )

        async def tell_response(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                t = followed.since(time.time())
                data = {"request": request_id, "status": int(message["status"]), "t": t}
                followed.publish("response", data)
            await send(message)

        await self.app(scope, receive, tell_response)


async def _forbidden(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(FORBIDDEN)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": FORBIDDEN})
