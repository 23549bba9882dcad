"""The fast path's text(): the same HttpResponse Django's constructor builds, only cheaper."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from django.http import HttpResponse
from django.http.response import ResponseHeaders

from hello_async.fastpath.responses import TEXT_CONTENT_TYPE
from hello_async.fastpath.responses import text_response as text
from hello_async.web import responses


def _state(response: HttpResponse) -> list[tuple[str, Any]]:
    """Every attribute, in order; headers by their store, cookies as a dict."""
    state: list[tuple[str, Any]] = []
    for name, value in vars(response).items():
        if isinstance(value, ResponseHeaders):
            value = (type(value), value._store)
        elif name == "cookies":
            value = (type(value), dict(value))
        state.append((name, value))
    return state


BODIES = ["Hello, async Django!", "", "Smoked 6 meats with Stubb's Original!", "caf\u00e9 \u2603\n"]
STATUSES = [200, 201, 400, 404, 502, 100, 599]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("body", BODIES)
def test_text_builds_what_djangos_constructor_builds(body: str, status: int) -> None:
    ours = text(body, status)
    django = HttpResponse(body, status=status, content_type=TEXT_CONTENT_TYPE)
    assert type(ours) is HttpResponse
    assert _state(ours) == _state(django)
    assert ours.content == django.content
    assert ours.charset == django.charset == "utf-8"
    assert ours.reason_phrase == django.reason_phrase
    assert list(ours.items()) == list(django.items())
    assert ours.serialize() == django.serialize()
    assert text(body).status_code == 200


def test_each_response_has_its_own_mutable_state() -> None:
    first, second = text("a"), text("a")
    first["X-Test"] = "1"
    first.set_cookie("c", "1")
    first.write("b")
    first.headers.setdefault("Referrer-Policy", "same-origin")
    assert "X-Test" not in second and not second.cookies and second.content == b"a"
    assert "Referrer-Policy" not in second.headers
    assert list(text("a").items()) == [("Content-Type", TEXT_CONTENT_TYPE)]
    assert pickle.loads(pickle.dumps(first)).content == b"ab"


@pytest.mark.parametrize("status", [99, 600, "200", True])
def test_anything_else_is_djangos(status: Any) -> None:
    try:
        expected: Any = _state(HttpResponse("x", status=status, content_type=TEXT_CONTENT_TYPE))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            text("x", status)
        return
    assert _state(text("x", status)) == expected


def test_a_body_utf8_cannot_encode_fails_as_djangos_does() -> None:
    with pytest.raises(UnicodeEncodeError):
        HttpResponse("\ud800", content_type=TEXT_CONTENT_TYPE)
    with pytest.raises(UnicodeEncodeError):
        text("\ud800")


def test_the_views_answer_with_it_while_its_fork_is_on() -> None:
    assert responses.text is text
