"""Parsing query parameters: a bad value is a 400 naming the parameter, never a 500."""

from __future__ import annotations

from django.http import HttpResponse

from hello_async.errors import BadRequest


def int_param(raw: str | None, *, default: int, low: int, high: int, message: str) -> int:
    """``raw`` as an int in ``low..high`` (``default`` when absent); BadRequest(message) if not."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(message) from None
    if not low <= value <= high:
        raise BadRequest(message)
    return value


def text(body: str, status: int = 200) -> HttpResponse:
    """A plain-text response, as the article's views answer."""
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
