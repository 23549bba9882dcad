"""The article's plain-text responses, made by the factory the wiring chose.

The views call ``responses.text(...)``, looked up at call time: ``text`` is Django's own
``HttpResponse`` (:func:`plain_text`) until the wiring hands in another factory with
:func:`configure` (hello_async.apps: the fast path's, when its ``text`` fork is on). This module
never asks which one it should be.
"""

from __future__ import annotations

from typing import Protocol

from django.http import HttpResponse

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def plain_text(body: str, status: int = 200) -> HttpResponse:
    """A plain-text response, as the article's views answer."""
    return HttpResponse(body, status=status, content_type=TEXT_CONTENT_TYPE)


class Text(Protocol):
    def __call__(self, body: str, status: int = 200) -> HttpResponse: ...


text: Text = plain_text


def configure(*, text_factory: Text) -> None:
    """Make ``text`` the given factory (once, at startup: the app's ready())."""
    global text
    text = text_factory
