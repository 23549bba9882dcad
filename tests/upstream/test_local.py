from __future__ import annotations

import httpx
import pytest

from hello_async.upstream.local import LocalUpstream


def test_local_httpbin_serves_then_stops() -> None:
    local = LocalUpstream()
    url = local.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/get", timeout=10).json()["url"].endswith("/get")
        assert httpx.get(url + "/status/500", timeout=10).status_code == 500
    finally:
        local.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=5)
