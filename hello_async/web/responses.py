"""The article's plain-text responses."""

from __future__ import annotations

from django.http import HttpResponse

from hello_async import fastpath

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def text(body: str, status: int = 200) -> HttpResponse:
    """A plain-text response, as the article's views answer."""
    return HttpResponse(body, status=status, content_type=TEXT_CONTENT_TYPE)


if fastpath.enabled("text"):  # the same response, built without running the constructor
    pass  # noqa: F811
