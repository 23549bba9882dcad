"""The one ASGI wrapper around Django's handler: every request counted, timed, named and listed
on its way in, and the gates it must pass, in one coroutine.

For each HTTP request, :class:`Door`:

* counts and times it by method, URL pattern and status (hello_async.ops.requestmetrics: its
  ``send`` stands in for the server's, and the scope carries the request's ``Exchange``);
* lists it in the process's in-flight table while it runs, for the loop monitor
  (hello_async.ops.inflight), and gives it its id, which its log lines carry
  (hello_async.logs.context);
* hands it to the gates it was given, outermost first: the console's (hello_async.live.console),
  the body limit (hello_async.web.limits) and, in local mode, the loopback check
  (hello_async.web.loopback). Each gate is an ASGI wrapper that also says, from the scope alone,
  whether it would only pass this request on (``passes(scope)``). When all of them would (a
  request without a console header, a body within the limit, from a loopback client), the request
  goes straight to the handler; otherwise through the gates, each wrapped around the next as
  before, each deciding for itself.

Five wrappers cost five coroutines a request, each with its scope check and its ``try``;
the bookkeeping is the same in one (docs/performance.md, "`/` an eighth cheaper").
Other scopes (the lifespan, a websocket) go through the gates untouched by the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from hello_async.logs import context
from hello_async.ops.inflight import InFlightTable, get_table
from hello_async.ops.requestmetrics import (
    REQUEST_METRICS,
    SCOPE_KEY,
    SERVER_ERROR,
    Exchange,
    RequestMetrics,
)
from hello_async.web.asgi_types import ASGIApp, Receive, Scope, Send


class Gate(Protocol):
    """An ASGI wrapper that can tell, from the scope, that it would only pass a request on."""

    def passes(self, scope: Scope) -> bool: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class Door:
    """Request metrics, the in-flight table and the request's id around ``app``, and ``gates``
    (factories of :class:`Gate`, outermost first) between them and ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        gates: Sequence[Callable[[ASGIApp], Gate]] = (),
        metrics: RequestMetrics | None = None,
        table: InFlightTable | None = None,
    ) -> None:
        self.app = app
        guarded: ASGIApp = app
        made: list[Gate] = []
        for make in reversed(gates):
            gate = make(guarded)
            made.append(gate)
            guarded = gate
        self.gates = tuple(reversed(made))
        self.guarded = guarded  # the gates around the app, for a request one of them must see
        self.metrics = metrics if metrics is not None else REQUEST_METRICS
        self.table = table if table is not None else get_table()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.guarded(scope, receive, send)
            return
        app = self.app
        for gate in self.gates:
            if not gate.passes(scope):
                app = self.guarded
                break
        metrics = self.metrics
        method = scope["method"]
        exchange = Exchange(send, metrics, method)
        # Set in place, as Starlette's router sets its keys: the server made this scope for
        # this request alone (a copy costs more than the rest of the bookkeeping).
        scope[SCOPE_KEY] = exchange
        if metrics.in_flight is not None:
            metrics.in_flight.inc()  # and down when it is counted
        table = self.table
        key = table.add(method, scope["path"])
        context.request_id.set(context.new_request_id())
        try:
            await app(scope, receive, exchange.send_counting)
        except Exception:
            if not exchange.status:
                exchange.status = SERVER_ERROR  # what the server answers in its place
            raise
        finally:
            table.remove(key)
            # The scope holds the exchange, which holds the server's send and Django's request,
            # which both hold the scope: a cycle, left to the garbage collector unless broken.
            del scope[SCOPE_KEY]
            if exchange.started:  # the client left, or the application raised or never ended
                metrics.record(exchange)
