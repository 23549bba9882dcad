"""The article's console, per visitor: the lines of their own requests, as they happen.

The console page (/console/) opens an event stream with a token of its own and sends the
article's requests with that token in an ``X-Console-Session`` header. :class:`ConsoleMiddleware`
(an ASGI wrapper) sees the header on a request whose token has an open stream, and from then on
every log record of that request, its background work included (the request's id travels in
context variables into tasks and threads), reaches that stream as a ``line`` event, with the
time since the request arrived; the answer's status goes out as a ``response`` event when it is
sent. A request without the header, or with a token that has no open stream, passes untouched.

A session tracks at most :data:`MAX_REQUESTS` requests (the oldest forgotten first).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from hello_async.logs import context, taps
from hello_async.streams.subscribers import Event, Subscriber
from hello_async.web.asgi_types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-console-session"
CLIENT_HEADER = b"x-console-request"  # the page's own name for the request (at most 32 chars)
MAX_REQUESTS = 100


class Session:
    def __init__(self, token: str, subscriber: Subscriber) -> None:
        self.token = token
        self.subscriber = subscriber
        self._requests: OrderedDict[str, float] = OrderedDict()  # request id -> arrival

    def track(self, request_id: str, method: str, path: str, client: str) -> float:
        """Route ``request_id``'s records here from now on; returns its arrival time."""
        arrived = time.time()
        self._requests[request_id] = arrived
        taps.add(request_id, self._line)
        while len(self._requests) > MAX_REQUESTS:
            old, _ = self._requests.popitem(last=False)
            taps.remove(old, self._line)
        data = {"request": request_id, "client": client, "method": method, "path": path}
        self.subscriber.publish(Event("request", data))
        return arrived

    def _line(self, record: logging.LogRecord) -> None:
        request_id = record.request_id  # type: ignore[attr-defined]
        arrived = self._requests.get(request_id)
        if arrived is None:
            return
        t = round((record.created - arrived) * 1000, 1)
        for text in record.getMessage().split("\n"):  # an event a line, as the console prints
            data = {"request": request_id, "t": t, "level": record.levelname, "text": text}
            self.subscriber.publish(Event("line", data))

    def responded(self, request_id: str, status: int) -> None:
        arrived = self._requests.get(request_id)
        if arrived is not None:
            t = round((time.time() - arrived) * 1000, 1)
            self.subscriber.publish(
                Event("response", {"request": request_id, "status": status, "t": t})
            )

    def close(self) -> None:
        for request_id in self._requests:
            taps.remove(request_id, self._line)
        self._requests.clear()
        if sessions.get(self.token) is self:
            del sessions[self.token]


# Open sessions by token (a stream open for each).
sessions: dict[str, Session] = {}


def open_session(token: str, subscriber: Subscriber) -> Session:
    previous = sessions.get(token)
    if previous is not None:  # the page reconnected: the new stream takes over
        previous.subscriber.end()
        previous.close()
    session = sessions[token] = Session(token, subscriber)
    # The page sends its requests once this arrives: the headers alone come before the session
    # exists (it opens when the stream is first sent), and a request then would go untracked.
    subscriber.publish(Event("ready", {}))
    return session


class ConsoleMiddleware:
    """Ties a request carrying a console token to that console's stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not sessions or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = None
        client = ""
        for name, value in scope.get("headers", ()):
            if name == HEADER:
                session = sessions.get(value.decode("latin-1"))
            elif name == CLIENT_HEADER:
                client = value.decode("latin-1")[:32]
        request_id = context.request_id.get()
        if session is None or request_id is None:
            await self.app(scope, receive, send)
            return
        method, path = str(scope.get("method", "")), str(scope.get("path", ""))
        session.track(request_id, method, path, client)

        async def tell_response(message: Message) -> None:
            if message["type"] == "http.response.start":
                session.responded(request_id, int(message["status"]))
            await send(message)

        await self.app(scope, receive, tell_response)
