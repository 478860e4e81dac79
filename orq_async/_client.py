"""AsyncOrq: configuration, headers, the transport's lifetime, open streams."""

from __future__ import annotations

import dataclasses
import os
import ssl
import urllib.parse
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypedDict, TypeVar, cast, final

from ._codec import HEADER_TOKEN, check_header_value
from ._config import (
    COMPLETIONS_PATH,
    DEFAULT_POOL_LIMITS,
    DEFAULT_SERVER_URL,
    DEFAULT_TIMEOUTS,
    PoolLimits,
    Timeouts,
)
from ._exceptions import (
    ClientClosedError,
    InvalidParameterError,
    InvalidParameterTypeError,
)
from ._hooks import NO_HOOKS, Hooks, configure_logging_from_env
from ._resources import AsyncRouter, RetriesOption
from ._retry import DEFAULT_RETRY_POLICY, RetryConfig, resolve_retries
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._streaming import EventStream
from ._transport import (
    ACCEPT,
    AUTHORIZATION,
    CONTENT_TYPE,
    USER_AGENT_HEADER,
    Transport,
)
from ._types import NOT_GIVEN, NotGiven
from ._version import __version__

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AsyncOrq", "ClientOptions", "PoolStats"]

_S = TypeVar("_S", bound=EventStream[Any])

#: The largest non-streaming body accepted by default (a completion is far smaller).
DEFAULT_MAX_RESPONSE_SIZE: Final = 32 * 1024 * 1024

USER_AGENT: Final = f"orq-async/{__version__}"


class _Secret:
    """Holds the API key so that no repr, log line or traceback can show it."""

    __slots__ = ("_value", "authorization", "dynamic", "secret_bytes")

    def __init__(self, value: str | Callable[[], str]) -> None:
        self._value = value
        #: Whether the key comes from a callable (checked on every request).
        self.dynamic = callable(value)
        #: The Authorization header value, built once for a fixed key.
        self.authorization = "" if callable(value) else _authorization(value)
        #: The bare key as bytes (fixed keys), to mask echoes of it.
        self.secret_bytes = b""
        if not callable(value):
            bare = value[7:] if value[:7].lower() == "bearer " else value
            self.secret_bytes = bare.encode()

    def reveal(self) -> str:
        value = self._value
        return value() if callable(value) else value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API key cannot be pickled")


#: The request headers after Authorization, by Accept.
_STREAM_HEADERS: Final[dict[str, str]] = {
    CONTENT_TYPE: "application/json",
    ACCEPT: "text/event-stream",
    USER_AGENT_HEADER: USER_AGENT,
}
_JSON_HEADERS: Final[dict[str, str]] = {**_STREAM_HEADERS, ACCEPT: "application/json"}


class _Headers(dict[str, str]):
    """Request headers whose repr hides credentials (tracebacks that show local
    variables, debuggers, error reporters)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(
            {
                k: "[redacted]"
                if k.lower() in ("authorization", "proxy-authorization")
                else v
                for k, v in self.items()
            }
        )

    __str__ = __repr__


#: Headers that frame the message: overriding them would desync a pooled
#: connection, so extra_headers may not set them.
_FRAMING_HEADERS = frozenset(
    ("content-length", "transfer-encoding", "host", "connection", "upgrade", "te")
)


def _authorization(key: str) -> str:
    # A key that already carries the scheme is not prefixed twice (as the SDK).
    return key if key[:7].lower() == "bearer " else f"Bearer {key}"


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
    max_event_size: int
    max_response_size: int
    trace_configs: Sequence[aiohttp.TraceConfig]
    hooks: Hooks | None
    retry_config: RetryConfig | None


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
        default and ``False`` turns it off.
    :param max_event_size: the largest SSE event accepted, in bytes.
    :param max_response_size: the largest non-streaming response body accepted,
        in bytes (:class:`ResponseTooLargeError` beyond it).
    :param trace_configs: aiohttp ``TraceConfig`` objects for our sessions.
    :param hooks: async callbacks for tracing and metrics (:class:`Hooks`).
    :param retry_config: the official SDK's name for ``retries`` (a
        :class:`RetryConfig`), accepted so SDK code runs unchanged.
    :raises InvalidParameterError: no API key, or an invalid ``server_url``.
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
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        hooks: Hooks | None = None,
        retry_config: RetryConfig | None = None,
    ) -> None:
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
        self._api_key = _Secret(api_key)
        url = server_url or os.environ.get("ORQ_SERVER_URL") or DEFAULT_SERVER_URL
        if not isinstance(cast(object, url), str) or not url.startswith(
            ("http://", "https://")
        ):
            raise InvalidParameterError(
                "server_url", "expected an http:// or https:// URL"
            )
        parts = urllib.parse.urlsplit(url)
        if parts.username or parts.password or parts.query or parts.fragment:
            raise InvalidParameterError(
                "server_url",
                "must not carry credentials, a query or a fragment (pass the key as "
                "api_key=)",
            )
        if not parts.hostname:
            raise InvalidParameterError("server_url", "has no host")
        self.server_url = url.rstrip("/")
        self._completions_url = self.server_url + COMPLETIONS_PATH
        if not isinstance(timeouts, Timeouts):
            raise InvalidParameterTypeError("timeouts", "expected Timeouts")
        if not isinstance(limits, PoolLimits):
            raise InvalidParameterTypeError("limits", "expected PoolLimits")
        if isinstance(max_event_size, bool) or not isinstance(max_event_size, int):
            raise InvalidParameterTypeError("max_event_size", "expected int")
        if max_event_size < 1024:
            raise InvalidParameterError("max_event_size", "must be >= 1024 bytes")
        self.timeouts = timeouts
        self.limits = limits
        self.max_event_size = max_event_size
        if isinstance(max_response_size, bool) or not isinstance(
            max_response_size, int
        ):
            raise InvalidParameterTypeError("max_response_size", "expected int")
        if max_response_size < 1024:
            raise InvalidParameterError("max_response_size", "must be >= 1024 bytes")
        self.max_response_size = max_response_size
        if retry_config is not None:
            # The official SDK's client-level name, so seed code runs unchanged.
            if not isinstance(retries, NotGiven):
                raise InvalidParameterError(
                    "retry_config", "pass either retries= or retry_config=, not both"
                )
            retries = retry_config
        self._retry_policy = (
            DEFAULT_RETRY_POLICY
            if isinstance(retries, NotGiven)
            else resolve_retries(retries)
        )
        self._default_headers = dict(default_headers or {})
        self._session = session
        self._ssl = ssl_context
        self._trace_configs = tuple(trace_configs)
        self._transport: Transport | None = None
        self._closed = False
        self._streams: weakref.WeakSet[EventStream[Any]] = weakref.WeakSet()
        if hooks is not None and not isinstance(hooks, Hooks):
            raise InvalidParameterTypeError("hooks", "expected orq_async.Hooks")
        self.hooks = hooks or NO_HOOKS
        configure_logging_from_env()
        self.router = AsyncRouter(self)

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
            stream._client_closed()
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

    @property
    def is_closed(self) -> bool:
        return self._closed

    # -- used by the resources ------------------------------------------------

    def _ensure_transport(self) -> Transport:
        if self._closed:
            raise ClientClosedError("this client is closed")
        if self._transport is None:
            self._transport = Transport(
                limits=self.limits,
                session=self._session,
                ssl_context=self._ssl,
                trace_configs=self._trace_configs,
            )
        return self._transport

    def _build_headers(
        self, streaming: bool, extra: Mapping[str, str] | None
    ) -> dict[str, str]:
        api_key = self._api_key
        if not api_key.dynamic and not extra and not self._default_headers:
            return _Headers(
                {
                    AUTHORIZATION: api_key.authorization,
                    **(_STREAM_HEADERS if streaming else _JSON_HEADERS),
                }
            )
        if api_key.dynamic:
            key = api_key.reveal()
            if not isinstance(cast(object, key), str) or not key:
                raise InvalidParameterTypeError(
                    "api_key", "the key callable must return a non-empty str"
                )
            check_header_value("api_key", key)
            authorization = _authorization(key)
        else:
            authorization = api_key.authorization
        headers = _Headers(
            {
                AUTHORIZATION: authorization,
                **(_STREAM_HEADERS if streaming else _JSON_HEADERS),
            }
        )
        if not extra and not self._default_headers:
            return headers
        if extra is not None and not isinstance(extra, Mapping):
            raise InvalidParameterTypeError("extra_headers", "expected a mapping")
        for source in (self._default_headers, extra or {}):
            for name, value in source.items():
                if not (
                    isinstance(cast(object, name), str)
                    and isinstance(cast(object, value), str)
                ):
                    raise InvalidParameterTypeError(
                        "extra_headers", "header names and values must be str"
                    )
                if not HEADER_TOKEN.fullmatch(name):
                    raise InvalidParameterError(
                        "extra_headers", f"{name!r} is not a valid header name"
                    )
                if name.lower() in _FRAMING_HEADERS:
                    raise InvalidParameterError(
                        "extra_headers", f"{name!r} is set by the client itself"
                    )
                check_header_value("extra_headers", value, name)
                for existing in [k for k in headers if k.lower() == name.lower()]:
                    del headers[existing]
                headers[name] = value
        return headers

    def _track_stream(self, stream: _S) -> _S:
        self._streams.add(stream)
        return stream
