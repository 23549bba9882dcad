"""The id of the request being served, in a context variable.

Set by hello_async.ops.door for every HTTP request; tasks and ``sync_to_async`` calls copy the
context they start in, so a request's background work (``/async/``'s count) logs under its id.
"""

from __future__ import annotations

import itertools
import secrets
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("hello_async_request_id", default=None)

_prefix = secrets.token_hex(3)  # per process: ids stay unique across workers and restarts
_numbers = itertools.count(1)


def new_request_id() -> str:
    return f"{_prefix}-{next(_numbers)}"
