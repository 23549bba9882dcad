"""scripts/batch_accept.py: the tail scenario's loop accepts every waiting connection in one turn,
where uvloop accepts one a turn (the cause of the tail at 1000 concurrent, docs/performance.md)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable

import pytest
import uvloop

from tests.support.servers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from batch_accept import BatchAcceptLoop  # noqa: E402

WAITING = 40


def turns_to_accept_all(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> int:
    """Connect WAITING clients while the loop is stopped (the kernel completes each handshake,
    so all of them wait in the accept queue), then count the loop's turns until every one was
    accepted."""
    loop = loop_factory()
    accepted: list[object] = []

    class Counting(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport)

    try:
        server = loop.run_until_complete(
            loop.create_server(Counting, "127.0.0.1", 0, backlog=WAITING * 2)
        )
        port = server.sockets[0].getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(WAITING)]
        turns = 0

        async def count_turns() -> None:
            nonlocal turns
            while len(accepted) < WAITING:
                turns += 1
                await asyncio.sleep(0)  # one turn of the loop: ready callbacks, then I/O

        loop.run_until_complete(asyncio.wait_for(count_turns(), timeout=10))
        for client in clients:
            client.close()
        for transport in accepted:
            transport.close()  # type: ignore[attr-defined]
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    return turns


def test_uvloop_accepts_one_waiting_connection_a_turn() -> None:
    # What the tail comes from; if a uvloop release accepts in batches, the tail scenario and
    # docs/performance.md's section on the tail are to be measured again.
    assert turns_to_accept_all(uvloop.new_event_loop) >= WAITING


def test_the_batch_loop_accepts_every_waiting_connection_within_a_few_turns() -> None:
    # One turn accepts them all; connection_made follows in the accepting tasks' first steps.
    assert turns_to_accept_all(BatchAcceptLoop) <= 4


@pytest.mark.parametrize("loop_factory", [uvloop.new_event_loop, BatchAcceptLoop])
def test_both_loops_answer_on_an_accepted_connection(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def echo() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"smoked\n")
        answer = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        return answer

    loop = loop_factory()
    try:
        assert loop.run_until_complete(echo()) == b"smoked\n"
    finally:
        loop.close()
