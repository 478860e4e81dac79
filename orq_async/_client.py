"""AsyncOrq: configuration, headers, the transport's lifetime, open streams."""

from __future__ import annotations

import dataclasses
import os
import ssl
import urllib.parse
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypedDict, cast, final

from ._codec import check_header_value
from ._config import (
    DEFAULT_POOL_LIMITS,
    DEFAULT_SERVER_URL,
    DEFAULT_TIMEOUTS,
    PoolLimits,
    Proxy,
    Timeouts,
    resolve_proxy,
)
from ._exceptions import (
    ClientClosedError,
    InvalidParameterError,
    InvalidParameterTypeError,
)
from ._headers import HeaderFactory, Secret
from ._hooks import NO_HOOKS, Hooks, configure_logging_from_env
from ._request import ClientContext, RetriesOption
from ._resources import AsyncRouter
from ._retry import DEFAULT_RETRY_POLICY, RetryConfig, RetryPolicy, resolve_retries
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._streaming import EventStream, end_for_closed_client
from ._telemetry import Telemetry, instrument
from ._transport import Transport, default_ssl_context
from ._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AsyncOrq", "ClientOptions", "PoolStats", "mark_closed"]

#: The largest non-streaming body accepted by default (a completion is far smaller).
DEFAULT_MAX_RESPONSE_SIZE: Final = 32 * 1024 * 1024


@final
@dataclasses.dataclass(frozen=True, slots=True)
class PoolStats:
    """Pool gauges: connections checked out, requests waiting, the limit."""

    in_use: int
    waiting: int
    limit: int


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`AsyncOrq` (and of the blocking ``Orq``)."""

    server_url: str | None
    timeouts: Timeouts
    retries: RetriesOption | NotGiven
    limits: PoolLimits
    default_headers: Mapping[str, str] | None
    session: aiohttp.ClientSession | None
    ssl_context: ssl.SSLContext | bool
    proxy: str | None
    trust_env: bool
    max_event_size: int
    max_response_size: int
    trace_configs: Sequence[aiohttp.TraceConfig]
    hooks: Hooks | None
    retry_config: RetryConfig | None
    telemetry: Telemetry | bool | None


class AsyncOrq:
    """The asyncio client for the Orq AI router.

    ``client.router.completions.create(...)`` is the whole API. Use it as an
    async context manager, or call :meth:`aclose` when done.

    :param api_key: the Orq API key (or a callable returning it, called per
        request); default ``ORQ_API_KEY``.
    :param server_url: default ``ORQ_SERVER_URL``, else ``https://api.orq.ai``.
    :param timeouts: the client's default :class:`Timeouts`.
    :param retries: the client's default retry policy (default: 2 retries).
    :param limits: the connection pool's :class:`PoolLimits`.
    :param default_headers: sent with every request.
    :param session: an aiohttp ``ClientSession`` to use instead of our own; it is
        never closed by us.
    :param ssl_context: an ``ssl.SSLContext`` for TLS; verification is on by
        default and ``False`` turns it off. The default context trusts
        ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set (and ``trust_env`` is true).
    :param proxy: an HTTP proxy URL such as ``http://user:pass@host:3128``; it
        overrides the environment. HTTPS requests go through it with CONNECT.
    :param trust_env: read ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
        ``NO_PROXY``, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` (default True; not
        used with ``session=``, whose own settings apply).
    :param max_event_size: the largest SSE event accepted, in bytes.
    :param max_response_size: the largest non-streaming response body accepted,
        in bytes (:class:`ResponseTooLargeError` beyond it).
    :param trace_configs: aiohttp ``TraceConfig`` objects for our sessions.
    :param hooks: async callbacks for tracing and metrics (:class:`Hooks`).
    :param retry_config: the official SDK's name for ``retries`` (a
        :class:`RetryConfig`), accepted so SDK code runs unchanged.
    :param telemetry: OpenTelemetry spans and metrics for every call: ``True``
        or a :class:`Telemetry` (needs the ``otel`` extra); off by default.
    :raises InvalidParameterError: no API key, an invalid ``server_url``, a
        proxy URL that cannot be used, CA files that cannot be loaded, or
        ``telemetry`` without OpenTelemetry installed.
    """

    def __init__(
        self,
        api_key: str | Callable[[], str] | None = None,
        *,
        server_url: str | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetriesOption | NotGiven = NOT_GIVEN,
        limits: PoolLimits = DEFAULT_POOL_LIMITS,
        default_headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | bool = True,
        proxy: str | None = None,
        trust_env: bool = True,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        hooks: Hooks | None = None,
        retry_config: RetryConfig | None = None,
        telemetry: Telemetry | bool | None = None,
    ) -> None:
        self._api_key = _secret(api_key)
        self.server_url: str = _server_url(server_url)
        if not isinstance(timeouts, Timeouts):
            raise InvalidParameterTypeError("timeouts", "expected Timeouts")
        if not isinstance(limits, PoolLimits):
            raise InvalidParameterTypeError("limits", "expected PoolLimits")
        _check_size("max_event_size", max_event_size)
        self.limits = limits
        _check_size("max_response_size", max_response_size)
        self._retry_policy = _retry_policy(retries, retry_config)
        self._session = session
        self._ssl = _tls(ssl_context, trust_env)
        # A caller's session keeps its own proxy settings unless proxy= is given.
        self._proxy: Proxy | None = resolve_proxy(
            self.server_url, proxy, trust_env and session is None, os.environ
        )
        self._trace_configs = tuple(trace_configs)
        self._transport: Transport | None = None
        self._closed = False
        self._streams: weakref.WeakSet[EventStream[Any]] = weakref.WeakSet()
        if hooks is not None and not isinstance(hooks, Hooks):
            raise InvalidParameterTypeError("hooks", "expected orq_async.Hooks")
        self._context = ClientContext(
            server_url=self.server_url,
            headers=HeaderFactory(self._api_key, default_headers),
            policy=self._retry_policy,
            timeouts=timeouts,
            hooks=hooks or NO_HOOKS,
            telemetry=instrument(telemetry, self.server_url),
            max_event_size=max_event_size,
            max_response_size=max_response_size,
            transport=self._ensure_transport,
            open_stream=self._streams.add,
        )
        configure_logging_from_env()
        self.router: AsyncRouter = AsyncRouter(self._context)

    def __repr__(self) -> str:
        return f"AsyncOrq(server_url={self.server_url!r})"

    async def __aenter__(self) -> AsyncOrq:
        if self._closed:
            raise ClientClosedError("this client is closed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close open streams and every pooled connection (idempotent).

        A stream still open raises :class:`ClientClosedError` on its next step.
        """
        self._closed = True
        for stream in list(self._streams):
            end_for_closed_client(stream)
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    def pool_stats(self) -> PoolStats:
        """The connection pool's gauges right now."""
        in_use, waiting = (0, 0) if self._transport is None else self._transport.stats()
        size = self.limits.max_connections
        if self.limits.max_connections_per_host:
            size = min(size, self.limits.max_connections_per_host)
        return PoolStats(in_use=in_use, waiting=waiting, limit=size)

    # -- settings every request reads (assignable, as plain attributes) -------

    @property
    def timeouts(self) -> Timeouts:
        """The default :class:`Timeouts` of this client's calls."""
        return self._context.timeouts

    @timeouts.setter
    def timeouts(self, value: Timeouts) -> None:
        self._context.timeouts = value

    @property
    def hooks(self) -> Hooks:
        """The :class:`Hooks` of this client's calls."""
        return self._context.hooks

    @hooks.setter
    def hooks(self, value: Hooks) -> None:
        self._context.hooks = value

    @property
    def max_event_size(self) -> int:
        """The largest SSE event accepted, in bytes."""
        return self._context.max_event_size

    @max_event_size.setter
    def max_event_size(self, value: int) -> None:
        self._context.max_event_size = value

    @property
    def max_response_size(self) -> int:
        """The largest non-streaming response body accepted, in bytes."""
        return self._context.max_response_size

    @max_response_size.setter
    def max_response_size(self, value: int) -> None:
        self._context.max_response_size = value

    @property
    def is_closed(self) -> bool:
        return self._closed

    # -- given to the requests -----------------------------------------------

    def _ensure_transport(self) -> Transport:
        if self._closed:
            raise ClientClosedError("this client is closed")
        if self._transport is None:
            self._transport = Transport(
                limits=self.limits,
                session=self._session,
                ssl_context=self._ssl,
                trace_configs=self._trace_configs,
                proxy=self._proxy,
            )
        return self._transport


def _secret(api_key: str | Callable[[], str] | None) -> Secret:
    if api_key is None:
        api_key = os.environ.get("ORQ_API_KEY")
    if not api_key:
        raise InvalidParameterError(
            "api_key", "no API key: pass api_key= or set ORQ_API_KEY"
        )
    if not isinstance(api_key, str) and not callable(api_key):
        raise InvalidParameterTypeError("api_key", "expected str")
    if isinstance(api_key, str):
        check_header_value("api_key", api_key)
    return Secret(api_key)


def _server_url(server_url: str | None) -> str:
    url = server_url or os.environ.get("ORQ_SERVER_URL") or DEFAULT_SERVER_URL
    if not isinstance(cast(object, url), str) or not url.startswith(
        ("http://", "https://")
    ):
        raise InvalidParameterError("server_url", "expected an http:// or https:// URL")
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidParameterError(
            "server_url",
            "must not carry credentials, a query or a fragment (pass the key as "
            "api_key=)",
        )
    if not parts.hostname:
        raise InvalidParameterError("server_url", "has no host")
    return url.rstrip("/")


def _check_size(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterTypeError(name, "expected int")
    if value < 1024:
        raise InvalidParameterError(name, "must be >= 1024 bytes")


def _retry_policy(
    retries: RetriesOption | NotGiven, retry_config: RetryConfig | None
) -> RetryPolicy:
    if retry_config is not None:
        # The official SDK's client-level name, so seed code runs unchanged.
        if not isinstance(retries, NotGiven):
            raise InvalidParameterError(
                "retry_config", "pass either retries= or retry_config=, not both"
            )
        retries = retry_config
    if isinstance(retries, NotGiven):
        return DEFAULT_RETRY_POLICY
    return resolve_retries(retries)


def _tls(ssl_context: object, trust_env: object) -> ssl.SSLContext | bool:
    if not isinstance(trust_env, bool):
        raise InvalidParameterTypeError("trust_env", "expected bool")
    if not isinstance(ssl_context, ssl.SSLContext | bool):
        raise InvalidParameterTypeError(
            "ssl_context", "expected an ssl.SSLContext or a bool"
        )
    if ssl_context is True and trust_env:
        return default_ssl_context(os.environ)
    return ssl_context


def mark_closed(client: AsyncOrq) -> None:
    """Mark ``client`` closed without awaiting: for a blocking facade whose
    client never opened a connection (nothing else to close)."""
    client._closed = True
