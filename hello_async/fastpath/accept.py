"""A uvloop event loop whose TCP servers accept every waiting connection in one turn.

    uvicorn hello_async.asgi:application --loop hello_async.fastpath.accept:AcceptAllLoop

``hello-async`` (serve) and the Gunicorn worker of deploy/gunicorn.conf.py run on it unless the
fast path is off (``HELLO_ASYNC_FASTPATH=0``, or ``accept`` in ``HELLO_ASYNC_FASTPATH_OFF``).

Why: uvloop's libuv accepts one connection each time it polls a listening socket, then runs
every callback that is ready before it polls again. Under load a turn of the loop takes tens of
milliseconds, so when a thousand clients connect at once the last ones wait seconds in the
kernel's accept queue, and the request each sent with its connection waits with them: the p99
of a server at overload was that wait (docs/performance.md, "The tail at overload").

What: for a TCP server asked for by host and port, or on a socket already bound (Uvicorn's
``--workers``, Gunicorn's workers), the loop watches the listening socket itself and accepts
whatever is waiting, up to the server's backlog, in one turn, as asyncio's own selector loop
does; each accepted socket becomes uvloop's own transport (``connect_accepted_socket``), so
everything after the accept is uvloop's. TLS, Unix sockets and any other option go to uvloop
unchanged.

Several processes on one socket: every waiting process wakes and takes what it can, as on
asyncio's loop; the kernel hands each connection to one of them.

It subclasses uvloop's public ``Loop`` and overrides ``create_server``, a public method: no
private API of uvloop or Uvicorn is used (Uvicorn reads ``sockets``, ``close()`` and
``wait_closed()`` of what it returns, :class:`Listeners`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

logger = logging.getLogger(__name__)

ProtocolFactory = Callable[[], asyncio.BaseProtocol]
# Accept errors that are no fault of the server: nothing left waiting, or a client gone before it
# was accepted (asyncio's loop treats them the same).
_NOTHING_WAITING = (BlockingIOError, InterruptedError)
_TRANSIENT = (ConnectionAbortedError, ConnectionResetError, PermissionError)
RETRY = 1.0  # seconds before accepting again after an error that is not the client's


class Listeners:
    """What Uvicorn and Gunicorn's worker use of an ``asyncio.Server``: its ``sockets``,
    :meth:`close` and :meth:`wait_closed`."""

    def __init__(self, loop: AcceptAllLoop, sockets: list[socket.socket]) -> None:
        self._loop = loop
        self.sockets = sockets

    def close(self) -> None:
        """Stop accepting; connections already accepted stay open (as ``Server.close``)."""
        for sock in self.sockets:
            if sock.fileno() != -1:
                self._loop.remove_reader(sock.fileno())
                sock.close()

    async def wait_closed(self) -> None:
        return None

    def is_serving(self) -> bool:
        return any(sock.fileno() != -1 for sock in self.sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop


class AcceptAllLoop(uvloop.Loop):
    """uvloop, but its TCP servers take every waiting connection in one turn (module doc)."""

    def __init__(self) -> None:
        super().__init__()
        # The loop keeps only weak references to tasks: these are ours until they end.
        self._connecting: set[asyncio.Task[Any]] = set()

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **kwargs: Any,
    ) -> Any:
        if sock is not None:  # bound already; a Unix socket (--uds, --fd) stays uvloop's
            tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
            plain_tcp = tcp and host is None and port is None
        else:
            plain_tcp = port is not None
        if ssl is not None or kwargs or not plain_tcp:
            create: Any = super().create_server  # uvloop's overloads: one per way of binding
            return await create(
                protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, **kwargs
            )
        sockets = [sock] if sock is not None else _bind(host, port or 0, backlog)
        for listening in sockets:
            listening.listen(backlog)  # a socket bound elsewhere may not listen yet (Uvicorn's)
            listening.setblocking(False)
            self._watch(listening, protocol_factory, backlog)
        return Listeners(self, sockets)

    def _watch(self, listening: socket.socket, factory: ProtocolFactory, backlog: int) -> None:
        if listening.fileno() != -1:  # not closed meanwhile
            self.add_reader(listening.fileno(), self._accept, listening, factory, backlog)

    def _accept(self, listening: socket.socket, factory: ProtocolFactory, backlog: int) -> None:
        """Accept what waits, up to ``backlog``, and give each to uvloop (a reader callback)."""
        for _ in range(backlog):
            try:
                connection, _address = listening.accept()
            except _NOTHING_WAITING:
                return
            except _TRANSIENT:
                continue
            except OSError as exc:
                # Out of file descriptors or memory (EMFILE, ENFILE, ENOBUFS): what waits stays
                # in the kernel's queue; stop watching for a second, as asyncio's loop does,
                # rather than wake every turn to fail again.
                logger.warning("Could not accept a connection (retrying in %s s): %s", RETRY, exc)
                self.remove_reader(listening.fileno())
                self.call_later(RETRY, self._watch, listening, factory, backlog)
                return
            connection.setblocking(False)
            # uvloop makes its transport and calls connection_made within this task's first
            # step: once per connection, not per request.
            task = self.create_task(self.connect_accepted_socket(factory, connection))
            self._connecting.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._connecting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The client left between the accept and the transport: nothing to serve.
            logger.debug("An accepted connection closed before it was served: %s", task.exception())


def _bind(host: str | None, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets for ``host`` (every address it resolves to; all interfaces when None)
    and ``port``, as asyncio's ``create_server`` binds them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            listening = socket.socket(family, kind, proto)
            sockets.append(listening)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # IPv6 for the IPv6 address only: the IPv4 one has its own socket.
                listening.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listening.bind(address)
            listening.listen(backlog)
    except OSError:
        for listening in sockets:
            listening.close()
        raise
    return sockets
