"""A browser's side of the console for tests: its cookie jar, and the token /console/ gave it."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager

import httpx


class Visitor:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        page = self.client.get("/console/")
        page.raise_for_status()
        match = re.search(r'data-session="([^"]+)"', page.text)
        assert match, "no data-session on the console page"
        self.token = match.group(1)
        cookies = page.headers.get_list("set-cookie")
        self.set_cookie = next((c for c in cookies if c.startswith("hello_async_console=")), "")

    def stream(self) -> AbstractContextManager[httpx.Response]:
        return self.client.stream("GET", f"/console/events/?session={self.token}")

    def get(self, path: str, client: str = "c1") -> httpx.Response:
        headers = {"X-Console-Session": self.token, "X-Console-Request": client}
        return self.client.get(path, headers=headers)

    def close(self) -> None:
        self.client.close()
