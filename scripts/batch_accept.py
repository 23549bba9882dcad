"""A uvloop loop that accepts every waiting connection at once (docs/performance.md, the tail).

    PYTHONPATH=scripts uvicorn hello_async.asgi:application --loop batch_accept:BatchAcceptLoop ...

uvloop 0.23's libuv accepts one connection per turn of the loop. Under load a turn takes tens
of milliseconds (hundreds of ready callbacks), so 1000 clients connecting at once wait up to
seconds in the kernel's accept queue, their first request with them: the p99 of a run that
opens its connections under load. This loop keeps uvloop for everything else and, for a TCP
server Uvicorn asks for by host and port, watches the listening socket itself and accepts
whatever is waiting (up to the backlog) in one turn, as asyncio's own selector loop does.

An experiment for the bench (``--scenario tail``), not the project's server: Uvicorn's own
options cannot change how uvloop accepts.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import uvloop


class _Listener:
    """What Uvicorn reads of an ``asyncio.Server``: its sockets, ``close`` and ``wait_closed``."""

    def __init__(self, loop: BatchAcceptLoop, sock: socket.socket) -> None:
        self._loop = loop
        self.sockets = [sock]

    def close(self) -> None:
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    async def wait_closed(self) -> None:
        return None

    def is_serving(self) -> bool:
        return all(sock.fileno() != -1 for sock in self.sockets)


class BatchAcceptLoop(uvloop.Loop):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        # The loop keeps only weak references to tasks: these are ours until they end.
        self._accepting: set[asyncio.Task[Any]] = set()

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **kwargs: Any,
    ) -> Any:
        if ssl is not None or sock is not None or host is None or port is None:
            return await super().create_server(
                protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, **kwargs
            )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(backlog)
        listening.setblocking(False)
        self.add_reader(listening.fileno(), self._accept_all, listening, protocol_factory, backlog)
        return _Listener(self, listening)

    def _accept_all(
        self,
        listening: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
    ) -> None:
        for _ in range(backlog):
            try:
                connection, _address = listening.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # uvloop makes the transport and calls connection_made within this task's first
            # step: once per connection, not per request.
            task = self.create_task(self.connect_accepted_socket(protocol_factory, connection))
            self._accepting.add(task)
            task.add_done_callback(self._accepting.discard)
