"""hello_async.fastpath.accept: the loop's TCP servers accept every waiting connection in one turn,
where uvloop accepts one a turn (the cause of the tail at 1000 concurrent, docs/performance.md),
and serve what they accept as uvloop does."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from hello_async.bench.servers import ACCEPT_ALL
from hello_async.fastpath import accept
from hello_async.fastpath.accept import AcceptAllLoop, Listeners
from tests.support.servers import ROOT

WAITING = 40
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class Counting(asyncio.Protocol):
    accepted: list[asyncio.BaseTransport]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.accepted.append(transport)


def turns_to_accept_all(loop_factory: LoopFactory) -> int:
    """Connect WAITING clients while the loop is stopped (the kernel completes each handshake,
    so all of them wait in the accept queue), then count the loop's turns until every one was
    accepted."""
    loop = loop_factory()
    accepted: list[asyncio.BaseTransport] = []
    protocol = type("Counted", (Counting,), {"accepted": accepted})
    try:
        server = loop.run_until_complete(
            loop.create_server(protocol, "127.0.0.1", 0, backlog=WAITING * 2)
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
            transport.close()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    return turns


def test_uvloop_accepts_one_waiting_connection_a_turn() -> None:
    # What the tail comes from; if a uvloop release accepts in batches, the loop has no reason
    # to be, and docs/performance.md's section on the tail is to be measured again.
    assert turns_to_accept_all(uvloop.new_event_loop) >= WAITING


def test_the_loop_accepts_every_waiting_connection_within_a_few_turns() -> None:
    # One turn accepts them all; connection_made follows in the accepting tasks' first steps.
    assert turns_to_accept_all(AcceptAllLoop) <= 4


async def echo_once(host: str, port: int, family: int = socket.AF_UNSPEC) -> bytes:
    reader, writer = await asyncio.open_connection(host, port, family=family)
    writer.write(b"smoked\n")
    answer = await reader.readline()
    writer.close()
    return answer


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    writer.write((await reader.readline()).rstrip() + f" {peer[0]}\n".encode())
    await writer.drain()
    writer.close()


def run(loop_factory: LoopFactory, main: Callable[[], object]) -> object:
    loop = loop_factory()
    try:
        return loop.run_until_complete(main())  # type: ignore[arg-type]
    finally:
        loop.close()


@pytest.mark.parametrize("loop_factory", [uvloop.new_event_loop, AcceptAllLoop])
def test_both_loops_serve_an_accepted_connection_and_know_its_peer(
    loop_factory: LoopFactory,
) -> None:
    async def main() -> bytes:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        answer = await echo_once("127.0.0.1", server.sockets[0].getsockname()[1])
        server.close()
        await server.wait_closed()
        return answer

    # The peer's address is what the loopback check and the access log read.
    assert run(loop_factory, main) == b"smoked 127.0.0.1\n"


def test_a_name_is_served_on_every_address_it_resolves_to() -> None:
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}
    port = free_port()

    async def main() -> list[bytes]:
        server = await asyncio.start_server(handle, "localhost", port)
        assert isinstance(server, Listeners)
        answers = [await echo_once(address, port) for address in sorted(addresses)]
        server.close()
        return answers

    answers = run(AcceptAllLoop, main)
    assert answers == [f"smoked {address}\n".encode() for address in sorted(addresses)]


def test_a_bound_socket_is_served_as_uvicorns_workers_pass_it() -> None:
    # Uvicorn's --workers bind in the parent and leave listen() to the loop.
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Echo(), sock=bound, backlog=16)
        assert isinstance(server, Listeners) and server.sockets == [bound]
        answer = await echo_once("127.0.0.1", bound.getsockname()[1])
        server.close()
        return answer

    assert run(AcceptAllLoop, main) == b"smoked\n"
    assert bound.fileno() == -1  # closed with the server


def test_a_unix_socket_and_tls_stay_uvloops(tmp_path: Path) -> None:
    path = str(tmp_path / "s")

    async def main() -> bytes:
        server = await asyncio.start_unix_server(handle_unix, path)
        assert not isinstance(server, Listeners)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"smoked\n")
        answer = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        return answer

    assert run(AcceptAllLoop, main) == b"smoked\n"


def test_a_closed_server_accepts_nothing_and_keeps_what_it_accepted() -> None:
    async def main() -> tuple[bytes, bool]:
        accepted: list[asyncio.StreamWriter] = []

        async def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)
            writer.write(await reader.readline())
            await writer.drain()

        server = await asyncio.start_server(keep, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"first\n")
        assert await reader.readline() == b"first\n"
        server.close()
        assert not server.is_serving()
        refused = False
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            refused = True
        # The connection accepted before the close still answers.
        writer.write(b"second\n")
        await accepted[0].drain()
        accepted[0].write(b"still here\n")
        answer = await reader.readline()
        writer.close()
        accepted[0].close()
        await accepted[0].wait_closed()
        return answer, refused

    answer, refused = run(AcceptAllLoop, main)  # type: ignore[misc]
    assert refused and answer == b"still here\n"


def test_a_client_gone_before_it_is_served_leaves_the_server_serving() -> None:
    async def main() -> bytes:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # A client that connects and resets at once (RST on close), while the loop is busy.
        for _ in range(20):
            gone = socket.create_connection(("127.0.0.1", port))
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            gone.close()
        answer = await echo_once("127.0.0.1", port)
        server.close()
        return answer

    assert run(AcceptAllLoop, main) == b"smoked 127.0.0.1\n"


def test_out_of_file_descriptors_it_waits_and_accepts_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(accept, "RETRY", 0.01)
    calls: list[str] = []

    class Exhausted(socket.socket):
        """A listening socket whose first accept finds the process out of descriptors."""

        def accept(self) -> tuple[socket.socket, object]:
            calls.append("accept")
            if len(calls) == 1:
                raise OSError(errno.EMFILE, "Too many open files")
            return super().accept()

    listening = Exhausted()
    listening.bind(("127.0.0.1", 0))

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Echo(), sock=listening, backlog=16)
        answer = await echo_once("127.0.0.1", listening.getsockname()[1])
        server.close()
        return answer

    assert run(AcceptAllLoop, main) == b"smoked\n"
    # Served after the pause: one failed accept, then the one that took it (and the one that
    # found nothing more waiting), not a loop turning on the error.
    assert len(calls) <= 3
    assert "Could not accept a connection (retrying in 0.01 s)" in caplog.text


def test_uvicorn_takes_it_by_name_from_the_command_line() -> None:
    # What docs/performance.md tells a user of the seed's command to add.
    from uvicorn.config import Config

    config = Config("hello_async.asgi:application", loop=ACCEPT_ALL)
    assert config.get_loop_factory() is AcceptAllLoop


def test_the_projects_servers_run_on_it_unless_the_fast_path_is_off() -> None:
    def server_loop(**env: str) -> str:
        code = "from django.conf import settings; print(settings.SERVER_LOOP)"
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PATH": "", "DJANGO_SETTINGS_MODULE": "hello_async.settings", **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert server_loop() == ACCEPT_ALL
    assert server_loop(HELLO_ASYNC_FASTPATH="0") == "auto"
    assert server_loop(HELLO_ASYNC_FASTPATH_OFF="accept") == "auto"


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def handle_unix(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
