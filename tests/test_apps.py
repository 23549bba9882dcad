"""The wiring reads the fast-path switch and hands the parts their choice; the parts never ask."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hello_async.apps import hand_over_fast_path_choices
from hello_async.fastpath.httpclient import LeanAsyncClient
from hello_async.fastpath.responses import text_response
from hello_async.upstream import client
from hello_async.web import responses


@pytest.fixture
def rewired(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Settings to change before wiring again; the process's parts put back afterwards."""
    text = responses.text
    monkeypatch.setattr(client, "_upstream", client.get_upstream())  # put back after the test
    try:
        yield settings
    finally:
        responses.configure(text_factory=text)


def test_with_the_fast_path_the_parts_are_given_its_forks(rewired: Any) -> None:
    rewired.HELLO_ASYNC_FASTPATH = True
    rewired.HELLO_ASYNC_FASTPATH_OFF = frozenset()
    hand_over_fast_path_choices()
    assert responses.text is text_response
    assert client.get_upstream()._client_class is LeanAsyncClient
    assert client.get_upstream()._hand_over_read is True


def test_without_it_the_parts_are_given_djangos_and_httpxs_own(rewired: Any) -> None:
    rewired.HELLO_ASYNC_FASTPATH = False
    hand_over_fast_path_choices()
    assert responses.text is responses.plain_text
    assert client.get_upstream()._client_class is httpx.AsyncClient
    assert client.get_upstream()._hand_over_read is False


def test_a_fork_turned_off_by_name_is_not_handed_in(rewired: Any) -> None:
    rewired.HELLO_ASYNC_FASTPATH = True
    rewired.HELLO_ASYNC_FASTPATH_OFF = frozenset({"text", "client"})
    hand_over_fast_path_choices()
    assert responses.text is responses.plain_text
    assert client.get_upstream()._client_class is httpx.AsyncClient
    assert client.get_upstream()._hand_over_read is True
