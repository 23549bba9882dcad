"""The article's plain-text responses."""

from __future__ import annotations

from django.http import HttpResponse

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def text(body: str, status: int = 200) -> HttpResponse:
    """A plain-text response, as the article's views answer."""
    return HttpResponse(body, status=status, content_type=TEXT_CONTENT_TYPE)
