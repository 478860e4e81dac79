"""The aiohttp seam: pooled sessions, phase time limits, exception mapping.

This is the ONLY module that imports aiohttp (``tests/unit/test_layering.py``
checks it). Everything above it sees :class:`HTTPResponse` and orq_async
exceptions; every aiohttp exception is translated in :func:`translate_error`,
and ``tests/unit/test_transport_mapping.py`` fails if an ``aiohttp.ClientError``
subclass has no explicit entry in :data:`EXCEPTION_MAP`.

Time limits: aiohttp's own ``ClientTimeout`` is switched off entirely (its
``total=300`` default kills long generations, and ``sock_read`` is reset by
keep-alive comments). The connect / pool / first-byte phases run inside one anyio
cancel scope whose deadline moves with the phase, driven by aiohttp's trace
signals, so each limit raises its own typed error.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Final

import aiohttp
import anyio
from aiohttp import client_exceptions
from multidict import CIMultiDict, CIMultiDictProxy

from ._config import PoolLimits, Timeouts
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ConnectTimeoutError,
    DeadlineExceededError,
    FirstByteTimeoutError,
    OrqError,
    PoolTimeoutError,
    ProtocolError,
    StreamConnectionError,
    StreamIdleTimeoutError,
)

__all__ = ["EXCEPTION_MAP", "HTTPResponse", "Transport", "translate_error"]

#: Every aiohttp client exception, mapped to the orq_async class raised for it.
#: Looked up along the MRO, so a subclass aiohttp adds later still maps to its
#: parent's entry; the test keeps this table explicit anyway.
_MAPPING_BY_NAME: Final[dict[str, type[OrqError]]] = {
    "ClientError": APIConnectionError,
    "ClientConnectionError": APIConnectionError,
    "ClientConnectionResetError": APIConnectionError,
    "ClientOSError": APIConnectionError,
    "ClientConnectorError": APIConnectionError,
    "ClientConnectorDNSError": APIConnectionError,
    "ClientProxyConnectionError": APIConnectionError,
    "UnixClientConnectorError": APIConnectionError,
    "ClientSSLError": APIConnectionError,
    "ClientConnectorSSLError": APIConnectionError,
    "ClientConnectorCertificateError": APIConnectionError,
    "ServerConnectionError": APIConnectionError,
    "ServerDisconnectedError": APIConnectionError,
    "ServerFingerprintMismatch": APIConnectionError,
    "ServerTimeoutError": APITimeoutError,
    "ConnectionTimeoutError": ConnectTimeoutError,
    "SocketTimeoutError": StreamIdleTimeoutError,
    "ClientPayloadError": StreamConnectionError,
    "UploadAbortedError": APIConnectionError,
    "ClientResponseError": ProtocolError,
    "ContentTypeError": ProtocolError,
    "ClientHttpProxyError": APIConnectionError,
    "TooManyRedirects": ProtocolError,
    "WSServerHandshakeError": ProtocolError,
    "InvalidURL": APIConnectionError,
    "InvalidUrlClientError": APIConnectionError,
    "InvalidUrlRedirectClientError": ProtocolError,
    "NonHttpUrlClientError": APIConnectionError,
    "NonHttpUrlRedirectClientError": ProtocolError,
    "RedirectClientError": ProtocolError,
}

#: Every aiohttp client exception, mapped to the orq_async class raised for it.
#: Looked up along the MRO, so a subclass a future aiohttp adds still maps to its
#: parent's entry; the test keeps this table complete for the installed aiohttp.
#: Built by name because the set of classes differs between aiohttp 3.x releases.
EXCEPTION_MAP: Final[dict[type[BaseException], type[OrqError]]] = {
    getattr(client_exceptions, name): target
    for name, target in _MAPPING_BY_NAME.items()
    if hasattr(client_exceptions, name)
}

#: Failures where the server never saw the request, or may retry safely.
_NOT_RETRYABLE: Final = (
    aiohttp.ServerFingerprintMismatch,
    aiohttp.ClientConnectorCertificateError,
    aiohttp.InvalidURL,
    aiohttp.NonHttpUrlClientError,
)


def translate_error(
    exc: BaseException, *, request_id: str | None = None, mid_stream: bool = False
) -> OrqError:
    """The orq_async exception for a transport-level failure ``exc``.

    ``mid_stream`` marks failures after a 200 response started: those become
    :class:`StreamConnectionError` (retrying could duplicate output).
    """
    if isinstance(exc, OrqError):
        return exc
    _redact(exc)
    target: type[OrqError] = APIConnectionError
    for klass in type(exc).__mro__:
        if klass in EXCEPTION_MAP:
            target = EXCEPTION_MAP[klass]
            break
    else:
        if isinstance(exc, TimeoutError | asyncio.TimeoutError):
            target = APITimeoutError
    text = str(exc) or type(exc).__name__
    if (
        mid_stream
        and issubclass(target, APIConnectionError)
        and not issubclass(target, APITimeoutError)
    ):
        target = StreamConnectionError
    if issubclass(target, APIConnectionError):
        return target(
            f"{type(exc).__name__}: {text}",
            request_id=request_id,
            retryable=not mid_stream and not isinstance(exc, _NOT_RETRYABLE),
        )
    return target(f"{type(exc).__name__}: {text}", request_id=request_id)


_SECRET_HEADERS: Final = frozenset(("authorization", "proxy-authorization"))


def _redact(exc: BaseException) -> None:
    """Strip credentials from the request headers an aiohttp error carries.

    ``ClientResponseError.request_info`` holds our request headers, and its
    ``repr`` shows them; our error chains it as ``__cause__``, so the key would be
    one ``repr(err.__cause__)`` away.
    """
    info = getattr(exc, "request_info", None)
    if not isinstance(info, aiohttp.RequestInfo):
        return
    headers = CIMultiDict(
        (k, "[redacted]" if k.lower() in _SECRET_HEADERS else v)
        for k, v in info.headers.items()
    )
    try:
        exc.request_info = aiohttp.RequestInfo(  # type: ignore[attr-defined]
            info.url, info.method, CIMultiDictProxy(headers), info.real_url
        )
    except (AttributeError, TypeError):  # pragma: no cover - a frozen variant
        pass


_REQUEST_ID_HEADERS: Final = (
    "x-request-id",
    "request-id",
    "x-orq-request-id",
    "x-trace-id",
)


class HTTPResponse:
    """A live response whose body the caller reads, then releases or closes.

    ``close()`` and ``release()`` are synchronous (aiohttp's are), so a stream
    can free its connection from ``__del__`` or a ``break`` without awaiting.
    """

    __slots__ = ("_resp", "content_type", "headers", "request_id", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status: int = resp.status
        raw: CIMultiDictProxy[str] = resp.headers
        self.headers: Mapping[str, str] = raw
        self.content_type: str = resp.content_type or ""
        self.request_id: str | None = None
        for name in _REQUEST_ID_HEADERS:
            value = raw.get(name)
            if value:
                self.request_id = value
                break

    async def read(self, *, idle: float | None, deadline: float | None) -> bytes:
        """The whole body.

        :raises StreamIdleTimeoutError: the body stalled longer than ``idle``.
        :raises DeadlineExceededError: the call's deadline passed.
        :raises APIConnectionError: the connection failed.
        """
        now = anyio.current_time()
        limit = None if idle is None else now + idle
        scope_deadline = min(
            (d for d in (limit, deadline) if d is not None), default=float("inf")
        )
        with anyio.CancelScope(deadline=scope_deadline):
            try:
                return await self._resp.read()
            except Exception as exc:
                self.close()
                raise translate_error(exc, request_id=self.request_id) from exc
        # The scope swallowed the cancellation it raised at its deadline.
        self.close()
        raise self._timeout(deadline)

    def _timeout(self, deadline: float | None) -> OrqError:
        if deadline is not None and anyio.current_time() >= deadline:
            return DeadlineExceededError(
                "the call's deadline passed while reading the response body",
                request_id=self.request_id,
            )
        return StreamIdleTimeoutError(
            "the response body stalled longer than the idle limit",
            request_id=self.request_id,
        )

    async def read_some(self) -> bytes:
        """The next bytes of the body as they arrive; ``b""`` at the end.

        Uses ``readany()``: never aiohttp's line reader, which splits on LF only
        and caps the line length.

        :raises StreamConnectionError: the connection failed mid-body.
        """
        try:
            return await self._resp.content.readany()
        except OrqError:
            raise
        except Exception as exc:
            raise translate_error(
                exc, request_id=self.request_id, mid_stream=True
            ) from exc

    async def read_prefix(self, limit: int, seconds: float) -> bytes:
        """Up to ``limit`` bytes of the body, waiting at most ``seconds``; for
        error excerpts. Never raises; the caller closes the response."""
        out = b""
        with anyio.move_on_after(seconds):
            try:
                while len(out) < limit:
                    piece = await self._resp.content.readany()
                    if not piece:
                        break
                    out += piece
            except Exception:  # an excerpt is best effort
                pass
        return out[:limit]

    def abort_read(self, exc: BaseException) -> None:
        """Make the pending (or next) :meth:`read_some` raise ``exc``."""
        self._resp.content.set_exception(exc)

    def at_eof(self) -> bool:
        return self._resp.content.at_eof()

    def release(self) -> None:
        """Give the connection back to the pool (only after the body ended)."""
        self._resp.release()

    def close(self) -> None:
        """Drop the connection now (never reused)."""
        self._resp.close()

    @property
    def closed(self) -> bool:
        return self._resp.closed

    async def drain(self, seconds: float) -> None:
        """Read what is left of the body for at most ``seconds``, then release
        the connection for reuse, or close it if the body did not end in time.

        Shielded: a cancellation arriving now cannot skip the close.
        """
        with anyio.move_on_after(seconds, shield=True):
            try:
                while await self._resp.content.readany():
                    pass
            except Exception:
                self.close()
                return
        if self._resp.content.at_eof():
            self.release()
        else:
            self.close()


class _PhaseClock:
    """Moves one cancel scope's deadline through pool -> connect -> first byte.

    aiohttp's trace signals tell us the phase; the scope deadline is the phase's
    own limit, capped by the call's overall deadline.
    """

    __slots__ = ("deadline", "phase", "scope", "timeouts")

    def __init__(
        self, scope: anyio.CancelScope, timeouts: Timeouts, deadline: float | None
    ) -> None:
        self.scope = scope
        self.timeouts = timeouts
        self.deadline = deadline
        self.phase = "connect"
        self.enter("connect", timeouts.connect)

    def enter(self, phase: str, limit: float | None) -> None:
        self.phase = phase
        when = float("inf") if limit is None else anyio.current_time() + limit
        if self.deadline is not None and self.deadline < when:
            when = self.deadline
        self.scope.deadline = when

    def error(self, request_url: str) -> OrqError:
        del request_url  # never put URLs with user data into messages
        if self.deadline is not None and anyio.current_time() >= self.deadline:
            return DeadlineExceededError(
                f"the call's deadline passed while waiting for the {self.phase} phase"
            )
        t = self.timeouts
        if self.phase == "pool":
            return PoolTimeoutError(
                f"no pooled connection became free within {t.pool}s (pool full)",
                retryable=False,
            )
        if self.phase == "connect":
            return ConnectTimeoutError(f"could not connect within {t.connect}s")
        return FirstByteTimeoutError(
            f"no response headers within {t.first_byte}s of sending the request"
        )


async def _on_queued_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    clock: _PhaseClock | None = ctx.trace_request_ctx
    if clock is not None:
        clock.enter("pool", clock.timeouts.pool)


async def _on_create_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    clock: _PhaseClock | None = ctx.trace_request_ctx
    if clock is not None:
        clock.enter("connect", clock.timeouts.connect)


async def _on_connected(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    clock: _PhaseClock | None = ctx.trace_request_ctx
    if clock is not None:
        clock.enter("first_byte", clock.timeouts.first_byte)


def _phase_trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_connection_queued_start.append(_on_queued_start)
    config.on_connection_create_start.append(_on_create_start)
    config.on_connection_create_end.append(_on_connected)
    config.on_connection_reuseconn.append(_on_connected)
    config.freeze()
    return config


class Transport:
    """One lazily created ClientSession + TCPConnector per event loop.

    A client used from a second event loop (a new loop per test, a sync bridge
    thread) gets a second session there instead of aiohttp's "attached to a
    different loop" failure. Each session is closed when its loop shuts down
    (through an async-generator finaliser, which ``asyncio.run`` and anyio run
    before closing the loop) or at :meth:`aclose`. A caller-supplied session is
    used as is and never closed.
    """

    def __init__(
        self,
        *,
        limits: PoolLimits,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | bool = True,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._limits = limits
        self._user_session = session
        self._ssl = ssl_context
        self._trace_configs = [_phase_trace_config(), *trace_configs]
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._watchers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections,
            limit_per_host=limits.max_connections_per_host,
            keepalive_timeout=limits.keepalive_expiry,
            ttl_dns_cache=limits.dns_cache_ttl,
            use_dns_cache=True,
            ssl=self._ssl,
        )
        return aiohttp.ClientSession(
            connector=connector,
            # Every aiohttp limit off: ours are phase-aware (see module doc).
            timeout=aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=None, sock_read=None
            ),
            trace_configs=self._trace_configs,
            auto_decompress=True,
            trust_env=False,
        )

    async def _session(self) -> aiohttp.ClientSession:
        if self._user_session is not None:
            return self._user_session
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is not None and not session.closed:
            return session
        self._forget_dead_loops()
        session = self._new_session()
        self._sessions[loop] = session
        watcher = self._watch_loop(loop, session)
        await watcher.__anext__()
        self._watchers[loop] = watcher
        return session

    async def _watch_loop(
        self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession
    ) -> AsyncGenerator[None, None]:
        # Suspended for the loop's lifetime; its finally runs when the loop's
        # runner calls shutdown_asyncgens(), while the loop can still await.
        try:
            yield
        finally:
            if self._sessions.get(loop) is session:
                del self._sessions[loop]
            self._watchers.pop(loop, None)
            with anyio.CancelScope(shield=True):
                await session.close()

    def _forget_dead_loops(self) -> None:
        for loop in [lp for lp in self._sessions if lp.is_closed()]:
            session = self._sessions.pop(loop)
            self._watchers.pop(loop, None)
            # The loop is gone, so nothing can be awaited: detach so aiohttp
            # does not warn about a session we can no longer close.
            session.detach()

    async def aclose(self) -> None:
        """Close every session this transport created."""
        loop = asyncio.get_running_loop()
        for other, session in list(self._sessions.items()):
            del self._sessions[other]
            self._watchers.pop(other, None)
            if other is loop:
                with anyio.CancelScope(shield=True):
                    await session.close()
            elif not other.is_closed() and other.is_running():
                future = asyncio.run_coroutine_threadsafe(session.close(), other)
                with anyio.move_on_after(5, shield=True):
                    await asyncio.wrap_future(future)
            else:
                session.detach()

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeouts: Timeouts,
        deadline: float | None,
    ) -> HTTPResponse:
        """Send the request and return once the response headers are in.

        :raises PoolTimeoutError, ConnectTimeoutError, FirstByteTimeoutError,
            DeadlineExceededError: a phase limit ran out.
        :raises APIConnectionError: the request failed at the network level.
        """
        session = await self._session()
        with anyio.CancelScope() as scope:
            clock = _PhaseClock(scope, timeouts, deadline)
            try:
                resp = await session.post(
                    url,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    trace_request_ctx=clock,
                )
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                raise translate_error(exc) from exc
            return HTTPResponse(resp)
        raise clock.error(url)
