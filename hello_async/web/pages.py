"""What every page's header needs: whether the lab and the console are on (they are linked)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def pages(request: HttpRequest) -> dict[str, object]:
    return {"lab_on": settings.HELLO_ASYNC_LAB}
