"""The aiohttp seam: pooled sessions, phase time limits, exception mapping.

This is the ONLY module that imports aiohttp (``tests/unit/test_layering.py``
checks it). Everything above it sees :class:`HTTPResponse` and orq_async
exceptions; every aiohttp exception is translated in :func:`translate_error`,
and ``tests/unit/test_transport_mapping.py`` fails if an ``aiohttp.ClientError``
subclass has no explicit entry in :data:`EXCEPTION_MAP`.

Time limits: aiohttp's own ``ClientTimeout`` total and read limits stay off (its
``total=300`` default kills long generations, and ``sock_read`` is reset by
keep-alive comments). The pool wait has its own limit (our pool slots, an anyio
cancel scope when the pool is full), the connect phase is aiohttp's
``sock_connect``, and the wait for the response headers is watched by the
loop's shared watchdog timer (``_timers``; see :meth:`Transport.post`); each
raises its own typed error.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Final

import aiohttp
import anyio
from aiohttp import client_exceptions
from multidict import CIMultiDict, CIMultiDictProxy, istr

from ._config import PoolLimits, Timeouts
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    ConnectTimeoutError,
    DeadlineExceededError,
    FirstByteTimeoutError,
    OrqError,
    PoolTimeoutError,
    ProtocolError,
    ResponseTooLargeError,
    StreamConnectionError,
    StreamIdleTimeoutError,
    UsageError,
)
from ._timers import Watchdog, watchdog
from ._types import NOT_GIVEN, NotGiven

__all__ = [
    "ACCEPT",
    "ATTEMPT",
    "AUTHORIZATION",
    "CONTENT_TYPE",
    "EXCEPTION_MAP",
    "IDEMPOTENCY_KEY",
    "USER_AGENT_HEADER",
    "HTTPResponse",
    "Transport",
    "translate_error",
]

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
    redacted = aiohttp.RequestInfo(
        info.url, info.method, CIMultiDictProxy(headers), info.real_url
    )
    try:
        exc.request_info = redacted  # type: ignore[attr-defined]
        # The constructor's arguments are kept in .args too (and shown by repr).
        exc.args = tuple(redacted if a is info else a for a in exc.args)
    except (AttributeError, TypeError):  # pragma: no cover - a frozen variant
        pass


# Our request header names as multidict ``istr`` objects, made once: aiohttp
# copies headers into a case-insensitive multidict, and a plain ``str`` name makes
# it build a new ``istr`` per header per request (CPU, and memory held by every
# open stream's request info: measured ~1 KiB per request for our six headers).
AUTHORIZATION: Final = istr("Authorization")
CONTENT_TYPE: Final = istr("Content-Type")
ACCEPT: Final = istr("Accept")
USER_AGENT_HEADER: Final = istr("User-Agent")
IDEMPOTENCY_KEY: Final = istr("Idempotency-Key")
ATTEMPT: Final = istr("X-Orq-Attempt")

_MEDIA_TYPES: Final = {
    t: t for t in ("text/event-stream", "application/json", "text/html", "")
}

_REQUEST_ID_HEADERS: Final = (
    "x-request-id",
    "request-id",
    "x-orq-request-id",
    "x-trace-id",
)


class _Pool:
    """The connection limit, enforced by us so that waiting for it is a phase
    of its own with its own limit and error (aiohttp's connector is unlimited
    underneath; in-flight responses hold one slot each until released)."""

    __slots__ = ("free", "size", "waiters")

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, limit: float | None, deadline: float | None) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.waiters.append(waiter)
        now = loop.time()
        when = float("inf") if limit is None else now + limit
        by_deadline = deadline is not None and deadline < when
        if by_deadline:
            when = deadline  # type: ignore[assignment]
        with anyio.CancelScope(deadline=when):
            try:
                await waiter  # release() hands the slot over, already counted
                return
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self.release()  # handed over just as we were cancelled
                else:
                    waiter.cancel()
                raise
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
        if by_deadline:
            raise DeadlineExceededError(
                "the call's deadline passed while waiting for a pooled connection"
            )
        raise PoolTimeoutError(
            f"no pooled connection became free within {limit}s ({self.size} in use)",
            retryable=False,
        )

    def release(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class _Expiry:
    """A request's first-byte limit, watched by the loop's watchdog: cancels
    the waiting task once due, and remembers why."""

    __slots__ = ("by_deadline", "due", "fired", "task")

    def __init__(
        self, task: asyncio.Task[object] | None, due: float, by_deadline: bool
    ) -> None:
        self.task = task
        self.due = due
        self.by_deadline = by_deadline
        self.fired = False

    def check(self, now: float) -> float | None:
        if now < self.due:
            return self.due
        if self.task is not None and not self.task.done():
            self.fired = True
            self.task.cancel()
        return None

    def swallow(self) -> bool:
        """Take back our cancellation; False if someone else cancelled too."""
        task = self.task
        if task is None or sys.version_info < (3, 11):
            return True
        task.uncancel()
        return task.cancelling() == 0


class HTTPResponse:
    """A live response whose body the caller reads, then releases or closes.

    ``close()`` and ``release()`` are synchronous (aiohttp's are), so a stream
    can free its connection from ``__del__`` or a ``break`` without awaiting.
    Either also frees the response's pool slot, exactly once.
    """

    __slots__ = (
        "_done",
        "_pool",
        "_request_id",
        "_resp",
        "content_type",
        "status",
    )

    def __init__(self, resp: aiohttp.ClientResponse, pool: _Pool | None) -> None:
        self._resp = resp
        self._pool = pool
        self._done = False  # released or closed (by us)
        self.status: int = resp.status
        raw: CIMultiDictProxy[str] = resp.headers
        # Parsed here rather than with aiohttp's full MIME parser: only the media
        # type matters ("text/event-stream; charset=utf-8" -> "text/event-stream").
        ctype = raw.get(CONTENT_TYPE, "")
        # Shared strings for the usual answers (a held stream keeps this).
        media = _MEDIA_TYPES.get(ctype)
        if media is None:
            media = ctype.partition(";")[0].strip().lower()
            media = _MEDIA_TYPES.get(media, media)
        self.content_type: str = media
        self._request_id: str | None | NotGiven = NOT_GIVEN

    @property
    def request_id(self) -> str | None:
        """The server's id for this response, from the first of the usual
        headers present (looked up on first use: only errors, logs and
        metrics need it, and a missing header costs several lookups)."""
        request_id = self._request_id
        if isinstance(request_id, NotGiven):
            raw = self._resp.headers
            request_id = None
            for name in _REQUEST_ID_HEADERS:
                value = raw.get(name)
                if value:
                    request_id = value
                    break
            self._request_id = request_id
        return request_id

    async def read(
        self, *, idle: float | None, deadline: float | None, limit: int
    ) -> bytes:
        """The whole body, at most ``limit`` bytes.

        :raises StreamIdleTimeoutError: the body stalled longer than ``idle``.
        :raises DeadlineExceededError: the call's deadline passed.
        :raises ResponseTooLargeError: the body is larger than ``limit``.
        :raises APIConnectionError: the connection failed.
        """
        content = self._resp.content
        if content.is_eof():
            # Everything already arrived (the usual case for small bodies): read
            # it without a timer, and without awaiting at all.
            try:
                body = content.read_nowait()
            except Exception as exc:
                self.close()
                raise translate_error(exc, request_id=self.request_id) from exc
            if len(body) > limit:
                self.close()
                raise self._too_large(limit)
            self.release()
            return body
        length = self._resp.content_length
        if length is not None and length > limit:
            self.close()
            raise self._too_large(limit)
        loop = asyncio.get_running_loop()
        timer = None
        if idle is not None or deadline is not None:
            due = float("inf") if idle is None else loop.time() + idle
            if deadline is not None and deadline < due:
                due = deadline
            timer = loop.call_at(due, self._time_out, deadline)
        try:
            body = await self._read_all(content, limit)
        finally:
            if timer is not None:
                timer.cancel()
        self.release()
        return body

    async def _read_all(self, content: aiohttp.StreamReader, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                piece = await content.readany()
                if not piece:
                    break
                size += len(piece)
                if size > limit:
                    self.close()
                    raise self._too_large(limit)
                parts.append(piece)
        except OrqError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise translate_error(exc, request_id=self.request_id) from exc
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _too_large(self, limit: int) -> OrqError:
        return ResponseTooLargeError(
            f"the response body is larger than the limit of {limit} bytes",
            request_id=self.request_id,
        )

    def _time_out(self, deadline: float | None) -> None:
        if deadline is not None and asyncio.get_running_loop().time() >= deadline:
            error: OrqError = DeadlineExceededError(
                "the call's deadline passed while reading the response body",
                request_id=self.request_id,
            )
        else:
            error = StreamIdleTimeoutError(
                "the response body stalled longer than the idle limit",
                request_id=self.request_id,
            )
        self._resp.content.set_exception(error)

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""
        return self._resp.headers

    def read_buffered(self) -> bytes:
        """What already arrived of the body, without waiting (``b""`` if none)."""
        try:
            return self._resp.content.read_nowait()
        except OrqError:
            raise
        except Exception as exc:
            raise translate_error(
                exc, request_id=self.request_id, mid_stream=True
            ) from exc

    @property
    def readany(self) -> Callable[[], Awaitable[bytes]]:
        """The body's ``readany`` itself, for the stream's hot loop: no wrapper
        coroutine per read. Failures it raises go through
        :meth:`mid_stream_error`."""
        return self._resp.content.readany

    def mid_stream_error(self, exc: BaseException) -> OrqError:
        """The orq_async error for ``exc`` raised while reading the body."""
        return translate_error(exc, request_id=self.request_id, mid_stream=True)

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
        """Make the pending (or next) read of the body raise ``exc``."""
        self._resp.content.set_exception(exc)

    def at_eof(self) -> bool:
        return self._resp.content.at_eof()

    def release(self) -> None:
        """Give the connection back to the pool (only after the body ended)."""
        if not self._done:
            self._done = True
            self._resp.release()
            self._free_slot()

    def close(self) -> None:
        """Drop the connection now (never reused); nothing once released."""
        if not self._done:
            self._done = True
            self._resp.close()
            self._free_slot()

    def _free_slot(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.release()

    @property
    def closed(self) -> bool:
        """Closed or released, and its pool slot freed."""
        return self._done

    async def drain(self, seconds: float) -> None:
        """Read what is left of the body for at most ``seconds``, then release
        the connection for reuse, or close it if the body did not end in time.

        Shielded: a cancellation arriving now cannot skip the close.
        """
        content = self._resp.content
        try:
            if content.is_eof():
                # Usually [DONE] and the end of the body came in one read.
                while content.read_nowait():
                    pass
            else:
                with anyio.move_on_after(seconds, shield=True):
                    while await content.readany():
                        pass
        except Exception:
            self.close()
            return
        if content.at_eof():
            self.release()
        else:
            self.close()


class Transport:
    """One lazily created ClientSession + TCPConnector per event loop.

    A client used from a second event loop (a new loop per test, a sync bridge
    thread) gets a second session there instead of aiohttp's "attached to a
    different loop" failure. Each session is closed when its loop shuts down
    (through an async-generator finaliser, which ``asyncio.run`` and anyio run
    before closing the loop) or at :meth:`aclose`. A caller-supplied session is
    used as is and never closed; its own connector's limits then apply, and
    waiting for it counts toward the first-byte limit.
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
        self._trace_configs = list(trace_configs)
        # Per loop: our session, its pool slots and the loop's watchdog (held
        # here, so that it is not looked up per request).
        self._sessions: dict[
            asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, _Pool, Watchdog]
        ] = {}
        self._watchers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._closed = False

    def _new_session(self) -> aiohttp.ClientSession:
        limits = self._limits
        connector = aiohttp.TCPConnector(
            # The limit is ours (_Pool); aiohttp's would queue invisibly.
            limit=0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry,
            ttl_dns_cache=limits.dns_cache_ttl,
            use_dns_cache=True,
            ssl=self._ssl,
        )
        return aiohttp.ClientSession(
            connector=connector,
            # aiohttp's total/sock_read limits stay off: total kills long
            # generations and sock_read is reset by keep-alive comments.
            timeout=aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=None, sock_read=None
            ),
            trace_configs=self._trace_configs or None,
            auto_decompress=True,
            trust_env=False,
        )

    def _pool_size(self) -> int:
        per_host = self._limits.max_connections_per_host
        total = self._limits.max_connections
        return min(total, per_host) if per_host else total

    async def _open_session(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[aiohttp.ClientSession, _Pool, Watchdog]:
        self._forget_dead_loops()
        session = self._new_session()
        entry = (session, _Pool(self._pool_size()), watchdog(loop))
        self._sessions[loop] = entry
        watcher = self._watch_loop(loop, session)
        await watcher.__anext__()
        self._watchers[loop] = watcher
        return entry

    async def _watch_loop(
        self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession
    ) -> AsyncGenerator[None, None]:
        # Suspended for the loop's lifetime; its finally runs when the loop's
        # runner calls shutdown_asyncgens(), while the loop can still await.
        try:
            yield
        finally:
            entry = self._sessions.get(loop)
            if entry is not None and entry[0] is session:
                del self._sessions[loop]
            self._watchers.pop(loop, None)
            with anyio.CancelScope(shield=True):
                await session.close()

    def _forget_dead_loops(self) -> None:
        for loop in [lp for lp in self._sessions if lp.is_closed()]:
            session = self._sessions.pop(loop)[0]
            self._watchers.pop(loop, None)
            # The loop is gone, so nothing can be awaited: detach so aiohttp
            # does not warn about a session we can no longer close.
            session.detach()

    async def aclose(self) -> None:
        """Close every session this transport created; no request is sent after."""
        self._closed = True
        loop = asyncio.get_running_loop()
        for other, (session, _, _) in list(self._sessions.items()):
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

    def stats(self) -> tuple[int, int]:
        """(responses holding a pool slot, requests waiting for one), all loops."""
        in_use = waiting = 0
        for _, pool, _ in self._sessions.values():
            in_use += pool.size - pool.free
            waiting += sum(not w.done() for w in pool.waiters)
        return in_use, waiting

    def _aiohttp_timeout(self, connect: float | None) -> aiohttp.ClientTimeout:
        """aiohttp's own timeout for a request: only ``sock_connect`` is ours."""
        timeout = self._timeouts.get(connect)
        if timeout is None:
            timeout = self._timeouts[connect] = aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=connect, sock_read=None
            )
        return timeout

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeouts: Timeouts,
        deadline: float | None,
        loop: asyncio.AbstractEventLoop,
    ) -> HTTPResponse:
        """Send the request and return once the response headers are in.

        Phases: waiting for a pool slot (``timeouts.pool``, an anyio cancel
        scope, only when the pool is full), the TCP/TLS connect
        (``timeouts.connect``, aiohttp's ``sock_connect``), then until the
        response headers (``timeouts.first_byte``); the call's ``deadline`` caps
        them all. The first-byte limit is an entry in the loop's shared watchdog
        that cancels this task when due (the mechanism of ``asyncio.timeout``,
        without a timer handle per request): an anyio cancel scope on every
        request would cost about 9 µs, a timer per request several (see
        ``_timers``).

        :raises PoolTimeoutError, ConnectTimeoutError, FirstByteTimeoutError,
            DeadlineExceededError: a phase limit ran out.
        :raises APIConnectionError: the request failed at the network level.
        """
        if self._closed:
            raise ClientClosedError("this client is closed")
        if self._user_session is not None:
            session, pool = self._user_session, None
            if session.closed:
                raise ClientClosedError(
                    "the aiohttp session passed as session= is closed"
                )
            dog = watchdog(loop)
        else:
            # (An entry's session is open: whoever closes it removes the entry.)
            entry = self._sessions.get(loop)
            if entry is None:
                entry = await self._open_session(loop)
            session, pool, dog = entry
            if pool.free > 0 and not pool.waiters:
                pool.free -= 1
            else:
                await pool.acquire(timeouts.pool, deadline)
        first_byte = timeouts.first_byte
        expiry = None
        if first_byte is not None or deadline is not None:
            # The limit runs from issuing the request, so a new connection's
            # set-up counts too (it also has its own, usually shorter, limit).
            due = float("inf") if first_byte is None else loop.time() + first_byte
            by_deadline = deadline is not None and deadline <= due
            if by_deadline:
                due = deadline  # type: ignore[assignment]
            expiry = _Expiry(asyncio.current_task(loop), due, by_deadline)
            dog.add(expiry, due)
        connect = timeouts.connect
        try:
            resp = await session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                raise_for_status=False,  # a caller's session may default to True
                timeout=self._aiohttp_timeout(connect),
            )
        except asyncio.CancelledError:
            if pool is not None:
                pool.release()
            if expiry is None or not expiry.fired or not expiry.swallow():
                raise
            if expiry.by_deadline:
                raise DeadlineExceededError(
                    "the call's deadline passed before the response headers"
                ) from None
            raise FirstByteTimeoutError(
                f"no response headers within {first_byte}s of sending the request"
            ) from None
        except BaseException as exc:
            if pool is not None:
                pool.release()
            if self._closed:
                # aclose() closed the session under this request: say so, and
                # never let a retry send it again.
                raise ClientClosedError(
                    "the client was closed during the request"
                ) from exc
            if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
                raise translate_error(exc) from exc
            if isinstance(exc, RuntimeError | ValueError):
                # e.g. a caller's session bound to another event loop.
                raise UsageError(
                    "the aiohttp session cannot send this request: "
                    + type(exc).__name__
                ) from exc
            raise
        finally:
            if expiry is not None:
                dog.discard(expiry)
        return HTTPResponse(resp, pool)
