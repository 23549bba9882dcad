"""The one owner of HTTP calls to the upstream (httpbin, as in the article).

Lifetimes
    * **Async**: one ``httpx.AsyncClient`` per event loop that an ASGI lifespan started
      (:meth:`Upstream.astart` / :meth:`Upstream.aclose`, wired in hello_async.ops.lifespan).
      An ``AsyncClient`` belongs to the loop it first ran on, so a loop without a lifespan (the
      one-off loop Django makes per request under WSGI, ``runserver`` or the sync test client)
      gets a client for that call only, closed when the call ends: nothing outlives its loop.
    * **Sync**: one ``httpx.Client`` for the process (thread-safe), created on first use and
      closed at shutdown: a client per call would build an SSL context each time.
    * No cookie jar on any of them (hello_async.upstream.clients): no call carries state from
      the one before.

Clients
    The async client is on our HTTP/1.1 transport (hello_async.upstream.transport), or on
    httpx-aiohttp with ``UPSTREAM_TRANSPORT=aiohttp`` (the default without the fast path); with
    the fast path it is HTTPX's client minus its per-call costs. This module does not ask: the
    wiring (hello_async.apps) builds the process's client with :func:`configure`, handing in the
    client class and whether the transport hands answers over already read.
    The pool holds ``UPSTREAM_MAX_CONNECTIONS``: size it for the concurrent calls.

Deadlines and limits
    HTTPX's timeouts apply per operation; every call also runs under a total deadline,
    ``UPSTREAM_TIMEOUT`` (``asyncio.timeout``; the sync transport bounds each socket operation
    by what is left of it). Every answer is held to hello_async.upstream.limits.

Errors
    Every failure leaves as an ``UpstreamError`` (hello_async.upstream.errors), raised ``from``
    the original exception; the error middleware maps them to 502/504.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import httpx
from django.conf import settings

from hello_async.errors import UpstreamTimeout
from hello_async.upstream import local as local_upstream
from hello_async.upstream.aiohttp_transport import BoundedAiohttpTransport
from hello_async.upstream.clients import new_async_client, new_sync_client
from hello_async.upstream.errors import CALL_ERRORS, check_status, translate
from hello_async.upstream.limits import ResponseLimits
from hello_async.upstream.stats import timed_call
from hello_async.upstream.sync_transport import SyncTransport, bounded_call
from hello_async.upstream.transport import Http11Transport

logger = logging.getLogger(__name__)

AsyncTransportFactory = Callable[[], httpx.AsyncBaseTransport]


class _Serving:
    """The long-lived client of one serving loop, with what each of its calls needs at hand
    (not read from the settings on every call)."""

    __slots__ = ("_urls", "base_url", "client", "timeout")

    def __init__(self, client: httpx.AsyncClient, base_url: str, timeout: float) -> None:
        self.client = client
        self.base_url = base_url
        self.timeout = timeout
        self._urls: dict[str, httpx.URL] = {}

    def url(self, path: str) -> httpx.URL:
        # An absolute httpx.URL, parsed once per path: given a relative one, HTTPX parses and
        # merges it with the base URL on every call.
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.base_url + path)
            if len(self._urls) < 1024:  # bounded: a caller may ask for any number of paths
                self._urls[path] = url
        return url


class Upstream:
    """HTTP access to the upstream, with the clients' lifetimes, deadlines and error mapping.

    ``base_url``, ``timeout`` and ``max_connections`` default to the settings; the transports
    can be replaced (unit tests pass ``httpx.MockTransport``). ``client_class`` and
    ``hand_over_read`` are given by whoever builds it, as HTTPX's client is given its transport.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        max_connections: int | None = None,
        response_limits: ResponseLimits | None = None,
        async_transport: AsyncTransportFactory | None = None,
        sync_transport: httpx.BaseTransport | None = None,
        client_class: type[httpx.AsyncClient] = httpx.AsyncClient,
        hand_over_read: bool = False,
    ) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._max_connections = max_connections
        self._response_limits = response_limits
        self._async_transport = async_transport
        self._sync_transport = sync_transport
        self._client_class = client_class
        self._hand_over_read = hand_over_read
        self._clients: dict[asyncio.AbstractEventLoop, _Serving] = {}
        self._sync_client: httpx.Client | None = None
        self._sync_lock = threading.Lock()

    # --- configuration --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            # Unset UPSTREAM_URL: the local httpbin, started once per process on first use.
            return settings.UPSTREAM_URL or local_upstream.ensure_started()
        return self._base_url

    @property
    def timeout(self) -> float:
        return float(self._timeout if self._timeout is not None else settings.UPSTREAM_TIMEOUT)

    def _httpx_timeout(self) -> httpx.Timeout:
        total = self.timeout
        return httpx.Timeout(total, connect=min(5.0, total))

    def _limits(self) -> httpx.Limits:
        # Sized for the concurrent calls: a pool smaller than that queues requests on it.
        limit = self._max_connections or settings.UPSTREAM_MAX_CONNECTIONS
        return httpx.Limits(max_connections=limit, max_keepalive_connections=limit)

    def response_limits(self) -> ResponseLimits:
        return self._response_limits or ResponseLimits.from_settings()

    def new_async_client(self) -> httpx.AsyncClient:
        """A new async client on the transport in use, with the response limits and no cookie
        jar (hello_async.upstream.clients); the caller closes it."""
        limits = self._limits()
        transport: httpx.AsyncBaseTransport
        if self._async_transport is not None:
            transport = self._async_transport()
        elif settings.UPSTREAM_TRANSPORT == "aiohttp":
            transport = BoundedAiohttpTransport(
                limits=limits, response_limits=self.response_limits()
            )
        else:
            transport = Http11Transport(
                limits=limits,
                response_limits=self.response_limits(),
                hand_over_read=self._hand_over_read,
                drain_cancelled=settings.UPSTREAM_DRAIN_CANCELLED,
            )
        return new_async_client(
            transport,
            base_url=self.base_url,
            timeout=self._httpx_timeout(),
            limits=limits,
            client_class=self._client_class,
        )

    # --- async lifetime -------------------------------------------------------------------

    async def astart(self) -> None:
        """Open the long-lived client of the running loop (at ASGI lifespan startup)."""
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            # Resolving the base URL may start the local httpbin: keep that off the loop.
            if self._base_url is None and not settings.UPSTREAM_URL:
                await asyncio.to_thread(local_upstream.ensure_started)
            self._clients[loop] = _Serving(self.new_async_client(), self.base_url, self.timeout)
            logger.debug("Upstream client opened for %s", self.base_url)

    async def aclose(self) -> None:
        """Close the running loop's client (at ASGI lifespan shutdown)."""
        serving = self._clients.pop(asyncio.get_running_loop(), None)
        if serving is not None:
            await serving.client.aclose()

    # --- calls ----------------------------------------------------------------------------

    async def aget(self, path: str = "/") -> httpx.Response:
        """GET ``path`` from the upstream; the response's body is read. Raises UpstreamError."""
        serving = self._clients.get(asyncio.get_running_loop())
        if serving is not None:
            base_url, timeout = serving.base_url, serving.timeout
        else:
            base_url, timeout = self.base_url, self.timeout
        try:
            async with asyncio.timeout(timeout):
                if serving is not None:
                    response = await serving.client.get(serving.url(path))
                else:
                    # No lifespan on this loop (WSGI, runserver, Django's test client): the
                    # loop ends with the request, so the client must end with the call.
                    async with self.new_async_client() as one_off:
                        response = await one_off.get(path)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Upstream timed out: no answer from {base_url}{path} within {timeout:g} s"
            ) from exc
        except CALL_ERRORS as exc:
            raise translate(exc, url=f"{base_url}{path}") from exc
        return check_status(response)

    def get(self, path: str = "/") -> httpx.Response:
        """Blocking GET of ``path`` with the process's shared sync client. Raises UpstreamError."""
        url = f"{self.base_url}{path}"
        try:
            with bounded_call(self.timeout, self.response_limits()):
                response = self._client_sync().get(path)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Upstream timed out: no answer from {url} within {self.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise translate(exc, url=url) from exc
        return check_status(response)

    def _client_sync(self) -> httpx.Client:
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = new_sync_client(
                    self._sync_transport or SyncTransport(self._limits(), self.response_limits()),
                    base_url=self.base_url,
                    timeout=self._httpx_timeout(),
                )
            return self._sync_client

    def close(self) -> None:
        """Close the shared sync client (at shutdown)."""
        with self._sync_lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()


# --- the process's instance -------------------------------------------------------------------

_upstream = Upstream()


def configure(
    *, client_class: type[httpx.AsyncClient] = httpx.AsyncClient, hand_over_read: bool = False
) -> None:
    """Build the process's instance with the wiring's choices (once, at startup: apps.py)."""
    global _upstream
    _upstream = Upstream(client_class=client_class, hand_over_read=hand_over_read)


def get_upstream() -> Upstream:
    return _upstream


async def aget(path: str = "/") -> httpx.Response:
    with timed_call():  # for /metrics: the latency histogram, errors by kind
        return await _upstream.aget(path)


def get(path: str = "/") -> httpx.Response:
    with timed_call():
        return _upstream.get(path)
