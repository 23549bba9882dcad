"""The one mapping of the project's errors to answers (hello_async/web/middleware.py): the details
locally, what failed only in production, the details in the log with the request id."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from hello_async.errors import (
    BadRequest,
    HelloAsyncError,
    UpstreamBadResponse,
    UpstreamBadStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hello_async.logs.context import request_id
from hello_async.web.middleware import ErrorResponseMiddleware

INTERNAL = "http://10.0.0.5/"
ERRORS: list[tuple[HelloAsyncError, int, str]] = [
    (
        UpstreamBadStatus(f"Upstream answered 503 X for {INTERNAL}", upstream_status=503),
        502,
        "bad answer from the upstream",
    ),
    (
        UpstreamBadResponse(f"Upstream answer refused: {INTERNAL} (... UPSTREAM_MAX_BODY_BYTES)"),
        502,
        "bad answer from the upstream",
    ),
    (
        UpstreamUnavailable(f"Upstream refused the connection: {INTERNAL}"),
        502,
        "upstream unavailable",
    ),
    (
        UpstreamTimeout(f"Upstream timed out: no answer from {INTERNAL} within 8 s"),
        504,
        "upstream timed out",
    ),
]


def answer(error: HelloAsyncError) -> HttpResponse:
    def view(request: HttpRequest) -> HttpResponse:
        raise AssertionError("not called")

    middleware = ErrorResponseMiddleware(view)
    request = RequestFactory().get("/smoke_some_meats/")
    token = request_id.set("abc123-7")
    try:
        response = middleware.process_exception(request, error)
    finally:
        request_id.reset(token)
    assert response is not None
    return response


@pytest.mark.parametrize(("error", "status", "public"), ERRORS)
def test_in_production_an_upstream_error_says_only_what_failed_and_logs_the_rest(
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    error: HelloAsyncError,
    status: int,
    public: str,
) -> None:
    settings.PRODUCTION = True
    with caplog.at_level(logging.WARNING, logger="hello_async.web.middleware"):
        response = answer(error)
    assert response.status_code == status
    assert response.content.decode() == f"{public}\n"
    (record,) = caplog.records
    assert "(request abc123-7)" in record.getMessage()
    assert error.message in record.getMessage()  # the details: the URL, the status, the limit


@pytest.mark.parametrize(("error", "status", "public"), ERRORS)
def test_locally_the_body_keeps_the_details(
    settings: Any, error: HelloAsyncError, status: int, public: str
) -> None:
    settings.PRODUCTION = False
    response = answer(error)
    assert response.status_code == status
    assert response.content.decode() == f"{error.message}\n"
    assert INTERNAL in response.content.decode()


def test_in_production_an_error_without_a_public_message_keeps_its_own(settings: Any) -> None:
    settings.PRODUCTION = True
    response = answer(BadRequest("meats must be a whole number, 1 to 6"))
    assert response.status_code == 400
    assert response.content.decode() == "meats must be a whole number, 1 to 6\n"
