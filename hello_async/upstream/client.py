"""The one owner of HTTP calls to the upstream (httpbin, as in the article).

Lifetimes
    * **Async**: one ``httpx.AsyncClient`` per event loop that an ASGI lifespan started
      (:meth:`Upstream.astart` / :meth:`Upstream.aclose`, wired in ``hello_async.ops.lifespan``).
      An ``AsyncClient`` belongs to the loop it first ran on, so a loop without a lifespan (the
      one-off loop Django makes per request under WSGI, ``runserver`` or the sync test client)
      gets a client for that call only, closed when the call ends: nothing outlives its loop.
    * **Sync**: one ``httpx.Client`` for the process (thread-safe), created on first use and
      closed at shutdown. A client per call costs an SSL context each time (~16 ms of CPU).

Transport
    The async client keeps HTTPX's API on a transport of its own (hello_async.upstream.transport:
    HTTP/1.1 on asyncio and httptools, about 90 us of CPU less per call than httpx-aiohttp);
    ``UPSTREAM_TRANSPORT=aiohttp`` puts it on aiohttp's pool (httpx-aiohttp) instead. Not on
    httpcore: under hundreds of concurrent calls httpcore 1.0's pool does work proportional to
    requests x connections on every state change and collapses (docs/architecture.md).
    The pool holds ``UPSTREAM_MAX_CONNECTIONS`` connections: size it for the concurrent calls.
    The client is ``httpx.AsyncClient`` minus two per-call costs our calls never use
    (hello_async.fastpath.httpclient: cookie-jar shims for responses that set no cookie, the
    no-op auth flow): about 30 us less per call.

Deadlines
    HTTPX timeouts apply per operation, so a server dripping a byte a second never trips them.
    Every call therefore also runs under a total deadline, ``UPSTREAM_TIMEOUT``: async calls
    under ``asyncio.timeout``; sync calls on a network backend that gives every socket read and
    write only the time left until the call's deadline (the headers too, which no check between
    body chunks can bound).

Errors
    Every failure leaves this module as an ``UpstreamError`` (hello_async.errors), raised
    ``from`` the original exception; the middleware maps them to 502/504.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import aiohttp
import httpcore
import httpx
from django.conf import settings

from hello_async.errors import (
    UpstreamBadResponse,
    UpstreamBadStatus,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hello_async.fastpath.httpclient import LeanAsyncClient
from hello_async.ops import metrics
from hello_async.upstream import local as local_upstream
from hello_async.upstream.aiohttp_transport import BoundedAiohttpTransport
from hello_async.upstream.limits import (
    IDENTITY_HEADERS,
    RequestRefused,
    ResponseLimits,
    ResponseRefused,
    check_header_values,
    check_request_head,
    decode,
)
from hello_async.upstream.transport import Http11Transport

logger = logging.getLogger(__name__)

AsyncTransportFactory = Callable[[], httpx.AsyncBaseTransport]


class _Serving:
    """The long-lived client of one serving loop, with what each of its calls needs at hand
    (reading them from settings per call costs a few microseconds each)."""

    __slots__ = ("_urls", "base_url", "client", "timeout")

    def __init__(self, client: httpx.AsyncClient, base_url: str, timeout: float) -> None:
        self.client = client
        self.base_url = base_url
        self.timeout = timeout
        self._urls: dict[str, httpx.URL] = {}

    def url(self, path: str) -> httpx.URL:
        # An absolute httpx.URL, parsed once per path: given a relative one, HTTPX parses and
        # merges it with the base URL on every call (about a fifth of a call's CPU).
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.base_url + path)
            if len(self._urls) < 1024:  # compare's /delay/<s> paths are many; keep it bounded
                self._urls[path] = url
        return url


class Upstream:
    """HTTP access to the upstream, with the clients' lifetimes, deadlines and error mapping.

    ``base_url``, ``timeout`` and ``max_connections`` default to the settings; the transports
    can be replaced (unit tests pass ``httpx.MockTransport``).
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
    ) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._max_connections = max_connections
        self._response_limits = response_limits
        self._async_transport = async_transport
        self._sync_transport = sync_transport
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

    def _new_async_client(self) -> httpx.AsyncClient:
        limits = self._limits()
        transport: httpx.AsyncBaseTransport
        if self._async_transport is not None:
            transport = self._async_transport()
        elif settings.UPSTREAM_TRANSPORT == "aiohttp":
            transport = BoundedAiohttpTransport(
                limits=limits, response_limits=self.response_limits()
            )
        else:
            transport = Http11Transport(limits=limits, response_limits=self.response_limits())
        return LeanAsyncClient(
            base_url=self.base_url,
            headers=IDENTITY_HEADERS,
            timeout=self._httpx_timeout(),
            limits=limits,
            transport=transport,
            trust_env=False,
        )

    # --- async lifetime -------------------------------------------------------------------

    async def astart(self) -> None:
        """Open the long-lived client of the running loop (at ASGI lifespan startup)."""
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            # Resolving the base URL may start the local httpbin: keep that off the loop.
            if self._base_url is None and not settings.UPSTREAM_URL:
                await asyncio.to_thread(local_upstream.ensure_started)
            self._clients[loop] = _Serving(self._new_async_client(), self.base_url, self.timeout)
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
                    async with self._new_async_client() as one_off:
                        response = await one_off.get(path)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Upstream timed out: no answer from {base_url}{path} within {timeout:g} s"
            ) from exc
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            # aiohttp errors that httpx-aiohttp does not map (a malformed answer) arrive raw.
            raise translate(exc, url=f"{base_url}{path}") from exc
        return check_status(response)

    def get(self, path: str = "/") -> httpx.Response:
        """Blocking GET of ``path`` with the process's shared sync client. Raises UpstreamError."""
        url = f"{self.base_url}{path}"
        limits = self.response_limits()
        token = _sync_call.set(_SyncCall(time.monotonic() + self.timeout, limits))
        try:
            # The transport reads the body within the limits and the deadline (_BoundedTransport).
            response = self._client_sync().get(path)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Upstream timed out: no answer from {url} within {self.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise translate(exc, url=url) from exc
        finally:
            _sync_call.reset(token)
        return check_status(response)

    def _client_sync(self) -> httpx.Client:
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(
                    base_url=self.base_url,
                    headers=IDENTITY_HEADERS,
                    timeout=self._httpx_timeout(),
                    transport=self._sync_transport
                    or _BoundedTransport(self._limits(), self.response_limits()),
                    trust_env=False,
                )
            return self._sync_client

    def close(self) -> None:
        """Close the shared sync client (at shutdown)."""
        with self._sync_lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()


def check_status(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise UpstreamBadStatus(
            f"Upstream answered {response.status_code} {response.reason_phrase} "
            f"for {response.request.url}",
            upstream_status=response.status_code,
        )
    return response


def translate(exc: httpx.HTTPError | aiohttp.ClientError, *, url: str) -> UpstreamError:
    """Map an HTTPX error (from either transport) to the project's upstream errors."""
    cause: BaseException = exc.__cause__ or exc
    # httpx-aiohttp maps every aiohttp ClientConnectionError (a reset included) to
    # ConnectTimeout, so the original aiohttp error decides what really happened. The sync
    # transport's timeouts arrive as httpx timeouts caused by httpcore's (not TimeoutError).
    is_timeout = isinstance(cause, TimeoutError) or (
        isinstance(exc, httpx.TimeoutException) and not isinstance(cause, aiohttp.ClientError)
    )
    if is_timeout:
        return UpstreamTimeout(f"Upstream timed out: {url} ({describe(cause)})")
    if isinstance(exc, RequestRefused):
        return UpstreamUnavailable(f"Upstream request not sent: {url} ({exc})")
    if isinstance(exc, ResponseRefused):
        return UpstreamBadResponse(f"Upstream answer refused: {url} ({exc})")
    if isinstance(exc, httpx.ProtocolError) or isinstance(cause, _AIOHTTP_BAD_ANSWER):
        # The answer did not parse (aiohttp: a line or a header count over its limits too).
        return UpstreamBadResponse(f"Upstream sent a bad answer: {url} ({describe(cause)})")
    if isinstance(exc, httpx.ConnectError) or _is_refused(cause):
        return UpstreamUnavailable(f"Upstream refused the connection: {url} ({describe(cause)})")
    return UpstreamUnavailable(f"Upstream connection failed: {url} ({describe(cause)})")


_AIOHTTP_BAD_ANSWER = (aiohttp.ClientResponseError, aiohttp.http_exceptions.HttpProcessingError)


def _is_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- the sync call's total deadline and wire budget ---------------------------------------------


class _SyncCall:
    """When the current sync call must be over (``time.monotonic()``), and how many more bytes
    its head may take: h11 bounds one unfinished head (100 KiB), but httpcore reads interim
    answers one after another without a bound."""

    __slots__ = ("deadline", "head_left", "limits")

    def __init__(self, deadline: float, limits: ResponseLimits) -> None:
        self.deadline = deadline
        self.limits = limits
        self.head_left: int | None = limits.max_header_bytes  # None once the head is in


def _trace(event: str, info: dict[str, Any]) -> None:
    """httpcore's trace extension: the final answer's head is in (the body is counted after)."""
    if event == "http11.receive_response_headers.complete":
        call = _sync_call.get()
        if call is not None:
            call.head_left = None


# The current sync call; None outside Upstream.get.
_sync_call: contextvars.ContextVar[_SyncCall | None] = contextvars.ContextVar(
    "upstream_sync_call", default=None
)


def _time_left(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """The per-operation ``timeout``, shortened to what is left of the call's deadline."""
    call = _sync_call.get()
    if call is None:
        return timeout
    left = call.deadline - time.monotonic()
    if left <= 0:
        raise error("the call's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        call = _sync_call.get()
        if call is None or call.head_left is None:
            return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))
        # The head is not in yet: read no more than it may still take (and a byte to tell).
        if call.head_left < 0:
            raise call.limits.head_too_large()
        max_bytes = min(max_bytes, call.head_left + 1)
        data = self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))
        call.head_left -= len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync sockets, each read and write bounded by the call's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _time_left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _BoundedTransport(httpx.HTTPTransport):
    """httpx's sync transport on sockets bounded by the call's deadline (_DeadlineBackend),
    handing over answers read within the upstream's limits (hello_async.upstream.limits).

    h11 keeps at most 100 KiB of an unfinished head (httpcore's setting), so a head past
    ``max_header_bytes`` costs that much before it is refused; the body is counted as it
    arrives and decoded in bounded steps."""

    def __init__(self, limits: httpx.Limits, response_limits: ResponseLimits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self.response_limits = response_limits
        # httpx takes no network backend: swap its pool for one with the same limits on
        # ours. httpx is pinned below 0.29, where ``_pool`` is set only here.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        limits = self.response_limits
        method = request.method.encode("ascii", "replace")
        check_request_head(method, request.headers.raw)
        request.extensions = {**request.extensions, "trace": _trace}
        response = super().handle_request(request)
        stream = cast(httpx.SyncByteStream, response.stream)
        try:
            version = response.extensions.get("http_version", b"")
            coding = limits.check_head(response.status_code, version, response.headers.raw)
            check_header_values(response.headers.raw)  # h11 lets control characters by
            chunks = []
            size = 0
            for chunk in stream:  # a piece per h11 event: a chunk, or a read
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise limits.body_too_large()
                chunks.append(chunk)
                if len(chunks) > limits.max_body_chunks:
                    raise limits.too_many_chunks()
            raw = b"".join(chunks)
            content = decode(raw, coding, limits)
        finally:
            stream.close()  # an unread answer's connection is closed, not pooled
        read = httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=response.extensions,
            request=request,
        )
        read._content = content
        return read


# --- the process's instance -------------------------------------------------------------------

_upstream = Upstream()


def get_upstream() -> Upstream:
    return _upstream


def set_upstream(upstream: Upstream) -> Upstream:
    """Install ``upstream`` as the process's instance; returns the previous one (for tests)."""
    global _upstream
    previous, _upstream = _upstream, upstream
    return previous


async def aget(path: str = "/") -> httpx.Response:
    with metrics.upstream_call():  # latency histogram, errors by kind
        return await _upstream.aget(path)


def get(path: str = "/") -> httpx.Response:
    with metrics.upstream_call():
        return _upstream.get(path)
