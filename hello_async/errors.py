"""The project's exceptions, each carrying the HTTP status it maps to.

    HelloAsyncError                     (500, never raised as such)
    ├── BadRequest                      400  input that fails validation
    ├── NotFound                        404  no such thing (e.g. an unknown smoke order id)
    ├── ExperimentRunning               409  the lab runs one experiment at a time (lab/)
    ├── NeedsASGI                       501  an event stream asked of a WSGI server
    ├── Busy                            503  at capacity now: nothing started, see Retry-After
    │   ├── BackgroundFull              503  HELLO_ASYNC_BACKGROUND_MAX jobs pending (jobs/)
    │   ├── QueueFull                   503  HELLO_ASYNC_TASK_MAX_QUEUED orders waiting (work/)
    │   └── StreamsFull                 503  a feed's streams at their cap, or closing (streams/)
    └── UpstreamError                   502  the upstream could not give a usable answer
        ├── UpstreamUnavailable         502  refused, reset, closed early
        ├── UpstreamBadStatus           502  it answered, with a 4xx or 5xx status
        ├── UpstreamBadResponse         502  its answer broke a limit or the protocol
        └── UpstreamTimeout             504  no whole answer within UPSTREAM_TIMEOUT

Those with a folder named are defined there, beside what raises them; the rest here.

``hello_async.web.middleware.ErrorResponseMiddleware`` is the one place that turns them into
responses: a one-line plain-text body naming the cause, never a traceback. In production an
error whose message names what a stranger may not see (the upstream's address, its status) is
answered with its ``public_message`` only; the message goes to the log, with the request id.
"""

from __future__ import annotations


class HelloAsyncError(Exception):
    status_code = 500
    public_message: str | None = None  # the body in production, when not the message itself

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def shown(self, *, detailed: bool) -> str:
        """What a client is told: the message, or in production its public message if any."""
        return self.message if detailed or self.public_message is None else self.public_message


class BadRequest(HelloAsyncError):
    status_code = 400


class NotFound(HelloAsyncError):
    status_code = 404


class NeedsASGI(HelloAsyncError):
    status_code = 501


class Busy(HelloAsyncError):
    """At capacity: refused before anything started; ``Retry-After`` says when to come back."""

    status_code = 503
    retry_after = 5  # seconds


class UpstreamError(HelloAsyncError):
    status_code = 502
    public_message = "upstream unavailable"


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamBadStatus(UpstreamError):
    public_message = "bad answer from the upstream"

    def __init__(self, message: str, *, upstream_status: int) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status


class UpstreamBadResponse(UpstreamError):
    public_message = "bad answer from the upstream"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    public_message = "upstream timed out"
