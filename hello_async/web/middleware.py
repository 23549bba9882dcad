"""Turns the project's exceptions (hello_async.errors) into plain-text error responses.

Locally and under DEBUG the body is the error's message: what failed and where. In production
(``settings.PRODUCTION``) an error with a ``public_message`` (the upstream's: its message names
the internal URL and the upstream's status) is answered with that only, and the message is in
the log line, beside the request id that hello_async.logs.context gave the request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from hello_async.errors import HelloAsyncError
from hello_async.logs.context import request_id

logger = logging.getLogger(__name__)

GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class ErrorResponseMiddleware:
    """Maps HelloAsyncError to its status with a one-line body; other errors stay Django's.

    Works in both sync and async mode, so it adds no thread hop to async requests. Django
    converts a view's exception into a response before outer middleware sees it, so the mapping
    lives in ``process_exception``, which Django calls for sync and async views alike.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.detailed = not settings.PRODUCTION  # read once, as Django builds the chain
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, HelloAsyncError):
            return None
        level = logging.WARNING if exception.status_code >= 500 else logging.INFO
        logger.log(
            level,
            "%s %s -> %d (request %s): %s",
            request.method,
            request.path,
            exception.status_code,
            request_id.get() or "-",
            exception,
        )
        return error_response(exception, detailed=self.detailed)


def error_response(exc: HelloAsyncError, *, detailed: bool = True) -> HttpResponse:
    """The error's one-line answer; with ``detailed`` off, its public message if it has one."""
    response = HttpResponse(
        f"{exc.shown(detailed=detailed)}\n",
        status=exc.status_code,
        content_type="text/plain; charset=utf-8",
    )
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # a 503 that says when to come back (too many live streams)
        response["Retry-After"] = str(retry_after)
    return response
