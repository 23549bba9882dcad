"""The article's plain-text responses."""

from __future__ import annotations

from typing import Protocol

from django.http import HttpResponse

from hello_async import fastpath

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def plain_text(body: str, status: int = 200) -> HttpResponse:
    """A plain-text response, as the article's views answer."""
    return HttpResponse(body, status=status, content_type=TEXT_CONTENT_TYPE)


class Text(Protocol):
    def __call__(self, body: str, status: int = 200) -> HttpResponse: ...


def _text() -> Text:
    if fastpath.enabled("text"):  # the same response, without running HttpResponse's constructor
        from hello_async.fastpath.responses import text_response

        return text_response
    return plain_text


text = _text()
