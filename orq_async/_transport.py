"""The aiohttp seam: pooled sessions per event loop, and sending a request.

:class:`Transport` is the one place a request goes on the wire. Everything
above it sees :class:`HTTPResponse` (:mod:`._response`) and orq_async
exceptions; aiohttp's failures are mapped in :mod:`._transport_errors`, and
every time limit is enforced by the loop's clock (:mod:`._timers`). Only these
three modules import aiohttp (``tests/unit/test_layering.py`` checks it).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence

import aiohttp
import anyio

from ._config import PoolLimits, Proxy, Timeouts
from ._exceptions import (
    ClientClosedError,
    DeadlineExceededError,
    FirstByteTimeoutError,
    InvalidParameterError,
    OrqError,
)
from ._pool import ConnectionPool
from ._response import (
    ACCEPT,
    ATTEMPT,
    AUTHORIZATION,
    CONTENT_TYPE,
    IDEMPOTENCY_KEY,
    PROXY_AUTHORIZATION,
    USER_AGENT_HEADER,
    HTTPResponse,
)
from ._timers import Alarm, Watchdog, take_back_cancel, watchdog
from ._transport_errors import (
    EXCEPTION_MAP,
    STALE_TYPES,
    is_stale_failure,
    proxy_refusal,
    request_failure,
    translate_error,
)

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
    "default_ssl_context",
    "translate_error",
]


@functools.lru_cache(maxsize=8)
def _context_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile, capath=capath)


def default_ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext | bool:
    """The verifying TLS context, trusting ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
    when set (OpenSSL's variables, read now rather than when aiohttp was
    imported); ``True`` (aiohttp's default context) when neither is set.

    :raises InvalidParameterError: a variable names a missing or unreadable file
        or directory.
    """
    cafile = environ.get("SSL_CERT_FILE") or None
    capath = environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return True
    try:
        return _context_for(cafile, capath)
    except (OSError, ssl.SSLError) as exc:
        name = "SSL_CERT_FILE" if cafile is not None else "SSL_CERT_DIR"
        raise InvalidParameterError(
            name, f"cannot load the CA certificates it names: {exc}"
        ) from None


def _first_byte_alarm(
    loop: asyncio.AbstractEventLoop, first_byte: float | None, deadline: float | None
) -> tuple[Alarm | None, bool]:
    """The alarm that cancels the current task when the response headers are
    due (the first-byte limit or the deadline, whichever is earlier), and
    whether that is the deadline; (None, False) without either limit."""
    if first_byte is None and deadline is None:
        return None, False
    due = float("inf") if first_byte is None else loop.time() + first_byte
    by_deadline = deadline is not None and deadline <= due
    if by_deadline:
        due = deadline  # type: ignore[assignment]
    task = asyncio.current_task(loop)
    assert task is not None  # post() runs in a task
    return Alarm(due, task.cancel), by_deadline


def _has_idle_connection(session: aiohttp.ClientSession) -> bool:
    """Whether the session's pool holds an idle connection, which the next
    request takes (no await runs in between). aiohttp has no public gauge for
    it; without the attribute every request counts as possibly reused."""
    idle = getattr(session.connector, "_conns", None)
    return idle is None or bool(idle)


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
        proxy: Proxy | None = None,
    ) -> None:
        self._limits = limits
        self._user_session = session
        self._ssl = ssl_context
        self._trace_configs = list(trace_configs)
        #: The proxy URL (without credentials), per request.
        self._proxy_url: str | None = None
        #: Proxy-Authorization: on the CONNECT request for https servers (as
        #: proxy headers), on the request itself for http ones (the proxy
        #: forwards it; proxy headers are not sent then).
        self._proxy_headers: dict[str, str] | None = None
        self._proxy_authorization: str | None = None
        if proxy is not None:
            self._proxy_url = proxy.url
            if proxy.username is not None or proxy.password is not None:
                credentials = f"{proxy.username or ''}:{proxy.password or ''}"
                self._proxy_authorization = "Basic " + base64.b64encode(
                    credentials.encode()
                ).decode("ascii")
                self._proxy_headers = {PROXY_AUTHORIZATION: self._proxy_authorization}
        # Per loop: our session, its pool slots and the loop's watchdog (held
        # here, so that it is not looked up per request).
        self._sessions: dict[
            asyncio.AbstractEventLoop,
            tuple[aiohttp.ClientSession, ConnectionPool, Watchdog],
        ] = {}
        self._watchers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._closed = False

    def _new_session(self) -> aiohttp.ClientSession:
        limits = self._limits
        connector = aiohttp.TCPConnector(
            # The limit is ours (ConnectionPool); aiohttp's would queue invisibly.
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
    ) -> tuple[aiohttp.ClientSession, ConnectionPool, Watchdog]:
        self._forget_dead_loops()
        session = self._new_session()
        entry = (session, ConnectionPool(self._pool_size()), watchdog(loop))
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
        headers: dict[str, str],
        *,
        timeouts: Timeouts,
        deadline: float | None,
        loop: asyncio.AbstractEventLoop,
        on_resend: Callable[[OrqError], Awaitable[None]] | None = None,
    ) -> HTTPResponse:
        """Send the request and return once the response headers are in.

        Phases: waiting for a pool slot (``timeouts.pool``, only when the pool
        is full), the TCP/TLS connect (``timeouts.connect``, aiohttp's
        ``sock_connect``), then until the response headers
        (``timeouts.first_byte``, from issuing the request, so a new
        connection's set-up counts too); the call's ``deadline`` caps them all
        (see :mod:`._timers`).

        A request that fails on a reused pooled connection before any byte of
        the response (the server had closed it while idle) is sent again at
        once on a fresh connection, once, after awaiting ``on_resend``: the
        server never answered it, and it carries an idempotency key (Go's
        ``net/http`` rule for replayable requests; RFC 9112 section 9.3.1).

        :raises PoolTimeoutError, ConnectTimeoutError, FirstByteTimeoutError,
            DeadlineExceededError: a phase limit ran out.
        :raises ProxyError: the proxy was unreachable or refused the request.
        :raises CertificateVerificationError: the server's certificate failed.
        :raises APIConnectionError: the request failed at the network level.
        """
        pool: ConnectionPool | None
        entry = self._sessions.get(loop)
        if entry is not None and not self._closed and entry[1].try_acquire():
            session, pool, dog = entry  # the usual case: no wait, no await
        else:
            session, pool, dog = await self._slot(loop, timeouts.pool, deadline)
        alarm, by_deadline = _first_byte_alarm(loop, timeouts.first_byte, deadline)
        if alarm is not None:
            dog.add(alarm, alarm.due)
        if self._proxy_authorization is not None and url.startswith("http:"):
            headers[PROXY_AUTHORIZATION] = self._proxy_authorization
        try:
            reused = _has_idle_connection(session)
            try:
                resp = await self._post(session, url, body, headers, timeouts)
            except STALE_TYPES as exc:
                if not (reused and is_stale_failure(exc)) or self._closed:
                    raise
                # The server had closed the pooled connection while idle.
                if on_resend is not None:
                    await on_resend(translate_error(exc))
                resp = await self._post(session, url, body, headers, timeouts)
            if resp.status == 407 and self._proxy_url is not None:
                resp.close()  # plain http: the proxy's refusal
                raise proxy_refusal(407, resp.reason)
            return HTTPResponse(resp, pool)
        except asyncio.CancelledError:
            if pool is not None:
                pool.release()
            if (
                alarm is None
                or not alarm.fired
                or not take_back_cancel(asyncio.current_task(loop))
            ):
                raise
            if by_deadline:
                raise DeadlineExceededError(
                    "the call's deadline passed before the response headers"
                ) from None
            raise FirstByteTimeoutError(
                f"no response headers within {timeouts.first_byte}s of sending "
                "the request"
            ) from None
        except BaseException as exc:
            if pool is not None:
                pool.release()
            error = request_failure(exc, client_closed=self._closed)
            if error is None:
                raise
            raise error from exc
        finally:
            if alarm is not None:
                dog.discard(alarm)

    async def _slot(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: float | None,
        deadline: float | None,
    ) -> tuple[aiohttp.ClientSession, ConnectionPool | None, Watchdog]:
        """The session to send on, with a pool slot taken (ours only), and the
        loop's watchdog."""
        if self._closed:
            raise ClientClosedError("this client is closed")
        if self._user_session is not None:
            session = self._user_session
            if session.closed:
                raise ClientClosedError(
                    "the aiohttp session passed as session= is closed"
                )
            return session, None, watchdog(loop)
        # (An entry's session is open: whoever closes it removes the entry.)
        entry = self._sessions.get(loop)
        if entry is None:
            entry = await self._open_session(loop)
        pool = entry[1]
        if not pool.try_acquire():
            await pool.acquire(limit, deadline)
        return entry

    def _post(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: bytes,
        headers: dict[str, str],
        timeouts: Timeouts,
    ) -> Awaitable[aiohttp.ClientResponse]:
        """aiohttp's POST with our settings (awaiting it sends the request)."""
        return session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            raise_for_status=False,  # a caller's session may say True
            timeout=self._aiohttp_timeout(timeouts.connect),
            proxy=self._proxy_url,
            proxy_headers=self._proxy_headers,
        )
