"""Local mode answers loopback clients only (hello_async.web.loopback)."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import pytest

from hello_async.asgi import application
from hello_async.web.asgi_types import Message, Receive, Scope, Send
from hello_async.web.loopback import LoopbackOnlyMiddleware
from tests.support.servers import ROOT, Process, http_scope
from tests.test_settings import STRONG_KEY


class Inner:
    """An application that records that it was called and answers 200."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


async def call(app: object, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[operator]
    return sent


def scope_from(client: tuple[str, int] | None, kind: str = "http") -> Scope:
    scope = http_scope("/lab/")
    scope["client"] = client
    scope["type"] = kind
    return scope


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "client",
    [("127.0.0.1", 5000), ("127.0.0.2", 5000), ("::1", 5000), ("::ffff:127.0.0.1", 5000), None],
)
async def test_loopback_clients_and_local_connections_pass(client) -> None:
    inner = Inner()
    sent = await call(LoopbackOnlyMiddleware(inner), scope_from(client))
    assert inner.called and sent[0]["status"] == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "address", ["192.0.2.2", "10.0.0.1", "2001:db8::1", "::ffff:192.0.2.2", "0.0.0.0", "localhost"]
)
async def test_other_clients_get_403_naming_the_setting(address: str) -> None:
    inner = Inner()
    sent = await call(LoopbackOnlyMiddleware(inner), scope_from((address, 5000)))
    assert not inner.called
    assert sent[0]["status"] == 403
    body = sent[1]["body"]
    assert body.count(b"\n") == 1 and b"DJANGO_ALLOWED_HOSTS" in body


@pytest.mark.asyncio
async def test_a_websocket_from_another_address_is_closed_before_accept() -> None:
    inner = Inner()
    sent = await call(LoopbackOnlyMiddleware(inner), scope_from(("192.0.2.2", 5000), "websocket"))
    assert not inner.called and sent == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.asyncio
async def test_the_lifespan_passes() -> None:
    inner = Inner()
    await call(LoopbackOnlyMiddleware(inner), {"type": "lifespan"})
    assert inner.called


@pytest.mark.asyncio
async def test_the_project_application_refuses_other_clients_in_local_mode() -> None:
    sent = await call(application, scope_from(("192.0.2.2", 5000)))
    assert sent[0]["status"] == 403


def test_production_has_no_loopback_wrapper() -> None:
    """Production answers every address (the Host check and the proxy decide who may)."""
    code = (
        "from hello_async import asgi\n"
        "from hello_async.web.loopback import LoopbackOnlyMiddleware\n"
        "app = asgi.application\n"
        "while app is not None:\n"
        "    assert not isinstance(app, LoopbackOnlyMiddleware)\n"
        "    app = getattr(app, 'app', None)\n"
        "print('none')\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "hello_async.settings",
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "UPSTREAM_URL": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "none", result.stderr


# --- a real server bound to every address ---------------------------------------------------------


def outward_address() -> str | None:
    """This host's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.server
def test_the_seeds_uvicorn_on_every_address_serves_loopback_only(httpbin_url: str) -> None:
    address = outward_address()
    if address is None:
        pytest.skip("this host has no non-loopback address to connect from")
    process = Process(
        [sys.executable, "-m", "uvicorn", "hello_async.asgi:application"]
        + ["--host", "0.0.0.0", "--port", "0"],
        env={"UPSTREAM_URL": httpbin_url, "HELLO_ASYNC_TIME_SCALE": "0"},
    )
    try:
        port = process.wait_for(r"Uvicorn running on http://0\.0\.0\.0:(\d+)").group(1)
        headers = {"Host": "localhost"}  # what local mode's ALLOWED_HOSTS accept
        with httpx.Client(timeout=10, headers=headers) as client:
            for path in ["/lab/", "/metrics", "/compare/block/?ms=0"]:
                refused = client.get(f"http://{address}:{port}{path}")
                assert refused.status_code == 403, path
                assert "DJANGO_ALLOWED_HOSTS" in refused.text
                assert client.get(f"http://127.0.0.1:{port}{path}").status_code == 200, path
        process.wait_for(rf"local mode: refused a request from {address}")
    finally:
        process.terminate()
