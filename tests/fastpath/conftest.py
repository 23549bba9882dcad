from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import SyncToAsync


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each function ``sync_to_async`` sends to a thread while the test runs."""
    sent: list[str] = []
    call = SyncToAsync.__call__

    async def counted(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await call(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return sent


@pytest.fixture
def inline_sends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int]]:
    """(signal, thread) of each request signal the fast path sends inline, Django's receivers
    only (hello_async.fastpath.signals.send_inline)."""
    import threading

    from hello_async.fastpath import signals

    sent: list[tuple[Any, int]] = []
    send = signals.send_inline

    def recorded(signal: Any, *args: Any, **kwargs: Any) -> None:
        sent.append((signal, threading.get_ident()))
        send(signal, *args, **kwargs)

    monkeypatch.setattr(signals, "send_inline", recorded)
    return sent
