"""Views that need none of the HTML middleware (sessions, CSRF, locale, messages, frames).

The article's plain-text views, the JSON endpoints and the probes read no cookie and set no
HTML header. Marked with :func:`lean_middleware`, they are routed through a shorter middleware
chain by the fast path's handler (hello_async.fastpath.handler reads the marks from the URLconf);
without the fast path the mark changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def lean_middleware[View: Callable[..., Any]](view: View) -> View:
    view.lean_middleware = True  # type: ignore[attr-defined]
    return view


def is_lean(view: Callable[..., Any]) -> bool:
    return getattr(view, "lean_middleware", False) is True
