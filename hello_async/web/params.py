"""Parsing query parameters: a bad value is a 400 naming the parameter, never a 500."""

from __future__ import annotations

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


def limit_param(raw: str | None, *, high: int, default: int = 20) -> int:
    """A list's ``limit`` query parameter, 1 to ``high``."""
    message = f"limit must be an integer from 1 to {high}"
    return int_param(raw, default=default, low=1, high=high, message=message)
