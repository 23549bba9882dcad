"""The article's plain-text response, built without running HttpResponse's constructor.

``HttpResponse(body, status=status, content_type=...)`` for a ``str`` body: the same class with
the same attributes in the same order, the one header already checked (ASCII, no newline), the
body encoded as its charset says. Anything else is Django's own constructor.
tests/fastpath/test_responses.py compares the two; the constructors are pinned
(tests/pins.py).
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from django.http import HttpResponse
from django.http.response import ResponseHeaders

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def text_response(body: str, status: int = 200) -> HttpResponse:
    if type(body) is not str or type(status) is not int or not 100 <= status <= 599:
        return HttpResponse(body, status=status, content_type=TEXT_CONTENT_TYPE)
    response = HttpResponse.__new__(HttpResponse)
    headers = ResponseHeaders.__new__(ResponseHeaders)
    headers._store = {"content-type": ("Content-Type", TEXT_CONTENT_TYPE)}
    attrs = response.__dict__
    attrs["headers"] = headers
    attrs["_charset"] = None
    attrs["_resource_closers"] = []
    attrs["_handler_class"] = None
    attrs["cookies"] = SimpleCookie()
    attrs["closed"] = False
    attrs["status_code"] = status
    attrs["_reason_phrase"] = None
    attrs["_container"] = [body.encode("utf-8")]
    return response
