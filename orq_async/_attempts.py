"""The attempts of one call: retries, their hooks, and failure reporting.

A :class:`Call` owns everything that stays the same across attempts (the encoded
body, the headers with one idempotency key, the retry policy, the absolute
deadline) and counts attempts. :meth:`Call.send` returns the first 2xx response
and raises the final error otherwise; a stream that fails before its first
chunk reached the caller asks :meth:`Call.reopen` for a fresh response.
Neither reports a failure: :meth:`Call.failed` does that, called once per call
by whoever ends it (see :mod:`._request`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Final

import anyio

from ._config import Timeouts
from ._exceptions import (
    APIConnectionError,
    APIError,
    DeadlineExceededError,
    OrqError,
    PoolTimeoutError,
    RateLimitError,
)
from ._hooks import (
    NO_HOOKS,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    call_hook,
    logger,
)
from ._http_errors import api_error_from_response
from ._retry import RetryPolicy, decide_retry, parse_retry_after
from ._transport import ATTEMPT, IDEMPOTENCY_KEY, HTTPResponse, Transport

if TYPE_CHECKING:
    from ._telemetry import CallSpan

__all__ = ["Call"]

#: The attempt header's values, shared rather than built per request.
_ATTEMPTS: Final = tuple(str(i) for i in range(64))
#: Shared by every call that dropped its headers (never written to: no attempt
#: follows forget_request()).
_NO_HEADERS: Final[dict[str, str]] = {}
#: Error bodies are read up to this size; the rest is dropped with the connection.
ERROR_BODY_LIMIT: Final = 1024 * 1024
#: How long an error body may take when no idle limit is set.
DEFAULT_ERROR_READ: Final = 30.0

# A plain module-level RNG: decide_retry() takes it as a parameter, so tests
# can pass their own.
_random = random.Random()


class Call:
    """The attempts of one ``create()`` call (see module doc)."""

    __slots__ = (
        "_body",
        "_headers",
        "_started",
        "_transport",
        "_url",
        "attempts",
        "deadline",
        "hooks",
        "loop",
        "policy",
        "resends",
        "secret",
        "span",
        "started",
        "time_to_first_byte",
        "timeouts",
    )

    def __init__(
        self,
        transport: Transport,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        policy: RetryPolicy,
        timeouts: Timeouts,
        hooks: Hooks = NO_HOOKS,
        secret: bytes = b"",
        span: CallSpan | None = None,
    ) -> None:
        self._transport = transport
        self._url = url
        self._body = body
        self._headers = headers
        self.policy: RetryPolicy = policy
        self.timeouts: Timeouts = timeouts
        self.hooks: Hooks = hooks
        #: The API key as bytes, to mask in anything a server echoes back.
        self.secret: bytes = secret
        #: The call's OpenTelemetry span (None: telemetry off).
        self.span: CallSpan | None = span
        #: The running loop, looked up once for the whole call.
        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self.started: float = self.loop.time()
        self.deadline: float | None = (
            None if timeouts.deadline is None else self.started + timeouts.deadline
        )
        self.attempts: int = 0
        #: Sends repeated after a stale pooled connection (not attempts).
        self.resends: int = 0
        #: Seconds from the call's start to the last attempt's response headers.
        self.time_to_first_byte: float | None = None

    def scrub(self, data: bytes) -> bytes:
        """``data`` with the API key masked, should a server have echoed it."""
        secret = self.secret
        if secret and secret in data:
            return data.replace(secret, b"[redacted]")
        return data

    def forget_request(self) -> None:
        """Drop the body and headers once no retry can happen (a stream's first
        chunk reached the caller): a held stream then costs less memory."""
        self._body = b""
        self._headers = _NO_HEADERS

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - self.loop.time()

    async def send(self) -> HTTPResponse:
        """Attempt until a 2xx response arrives or retrying must stop.

        :raises APIError: a non-2xx status (after any retries).
        :raises APIConnectionError: a network failure or a time limit (after any
            retries).
        """
        span = self.span
        # The span is current while attempts are made, so that the spans of an
        # HTTP instrumentation (aiohttp's) nest under it.
        token = None if span is None else span.activate()
        try:
            while True:
                if self.deadline is not None and self.loop.time() >= self.deadline:
                    raise DeadlineExceededError(
                        f"the call's deadline of {self.timeouts.deadline}s passed "
                        f"after {self.attempts} attempt(s)"
                    )
                attempt = self.attempts = self.attempts + 1
                self._headers[ATTEMPT] = (
                    _ATTEMPTS[attempt] if attempt < len(_ATTEMPTS) else str(attempt)
                )
                if self.hooks.on_request is not None:
                    await self._announce(resend=False)
                sent = self.started if attempt == 1 else self.loop.time()
                try:
                    resp = await self._transport.post(
                        self._url,
                        self._body,
                        self._headers,
                        timeouts=self.timeouts,
                        deadline=self.deadline,
                        loop=self.loop,
                        on_resend=self._resending,
                    )
                except APIConnectionError as exc:
                    await self.retry_or_raise(exc)
                    continue
                now = self.loop.time()
                self.time_to_first_byte = now - self.started
                if self.hooks.on_response is not None or logger.isEnabledFor(
                    logging.DEBUG
                ):
                    await self._received(resp, now - sent)
                if 200 <= resp.status < 300:
                    return resp
                await self._status_failed(resp)
        finally:
            if token is not None:
                span.deactivate(token)  # type: ignore[union-attr]

    async def _announce(self, *, resend: bool) -> None:
        """``on_request`` for the attempt about to be sent (or re-sent)."""
        await call_hook(
            self.hooks.on_request,
            RequestEvent(
                method="POST",
                url=self._url,
                attempt=self.attempts,
                idempotency_key=self._headers.get(IDEMPOTENCY_KEY, ""),
                stream=self._headers.get("Accept") == "text/event-stream",
                resend=resend,
            ),
        )

    async def _received(self, resp: HTTPResponse, elapsed: float) -> None:
        """Log and ``on_response`` for an attempt's response headers."""
        logger.debug(
            "POST %s -> %d in %.1f ms (attempt %d, request id %s)",
            self._url,
            resp.status,
            elapsed * 1000,
            self.attempts,
            resp.request_id,
        )
        await call_hook(
            self.hooks.on_response,
            ResponseEvent(
                status=resp.status,
                request_id=resp.request_id,
                attempt=self.attempts,
                elapsed=elapsed,
            ),
        )

    async def _status_failed(self, resp: HTTPResponse) -> None:
        """A non-2xx answer: raise its :class:`APIError`, or wait to retry."""
        body = await self._read_error_body(resp)
        error = api_error_from_response(
            resp, body, attempts=self.attempts, now=time.time(), secret=self.secret
        )
        if resp.status not in self.policy.retry_statuses:
            raise error
        error.retryable = True
        retry_after = (
            error.retry_after
            if isinstance(error, RateLimitError)
            else parse_retry_after(resp.headers, time.time())
        )
        await self.retry_or_raise(error, retry_after=retry_after)

    async def _resending(self, error: OrqError) -> None:
        """The transport sends this attempt again: the pooled connection had
        been closed by the server before any response byte."""
        self.resends += 1
        logger.debug(
            "POST %s: re-sending attempt %d on a fresh connection after %s",
            self._url,
            self.attempts,
            error.message,
        )
        if self.hooks.on_request is not None:
            await self._announce(resend=True)

    async def failed(self, error: OrqError) -> None:
        """Report the call's final failure: its span, a log line, ``on_error``."""
        if self.span is not None:
            self.span.fail(error)
        logger.debug(
            "POST %s failed after %d attempt(s): %s",
            self._url,
            self.attempts,
            type(error).__name__,
        )
        await call_hook(self.hooks.on_error, error)

    async def _read_error_body(self, resp: HTTPResponse) -> bytes:
        """At most ERROR_BODY_LIMIT bytes of an error body, within the idle limit
        and the deadline; then the connection is released (or closed)."""
        wait = self.timeouts.stream_idle or DEFAULT_ERROR_READ
        remaining = self.remaining()
        if remaining is not None:
            wait = max(0.0, min(wait, remaining))
        body = await resp.read_prefix(ERROR_BODY_LIMIT, wait)
        if resp.at_eof():
            resp.release()
        else:
            resp.close()
        return body

    async def retry_or_raise(
        self, error: OrqError, *, retry_after: float | None = None
    ) -> None:
        """Sleep before the next attempt, or raise ``error`` if there is none.

        Only call this while nothing of the call has reached the caller.
        """
        if isinstance(error, PoolTimeoutError):
            # Local back-pressure: retried only when the policy opts in.
            if not self.policy.retry_pool_timeouts:
                raise error
        elif not error.retryable:
            raise error
        elif isinstance(error, APIConnectionError):
            if not self.policy.retry_connection_errors:
                raise error
        decision = decide_retry(
            self.policy,
            retries_done=self.attempts - 1,
            elapsed=self.loop.time() - self.started,
            remaining=self.remaining(),
            retry_after=retry_after,
            random=_random.random,
        )
        if decision.delay is None:
            logger.debug("not retrying %s: %s", type(error).__name__, decision.reason)
            if isinstance(error, APIError):
                error.attempts = self.attempts
            raise error
        logger.debug(
            "retrying after %s in %.3fs (%s; attempt %d)",
            type(error).__name__,
            decision.delay,
            decision.reason,
            self.attempts + 1,
        )
        if self.span is not None:
            self.span.retry(self.attempts + 1, decision.delay, error)
        await call_hook(
            self.hooks.on_retry,
            RetryEvent(
                attempt=self.attempts + 1,
                delay=decision.delay,
                reason=f"{type(error).__name__} ({decision.reason})",
                error=error,
            ),
        )
        await anyio.sleep(decision.delay)

    async def reopen(self, error: OrqError) -> HTTPResponse:
        """A fresh response for a stream that failed with ``error`` before its
        first chunk reached the caller, if the policy allows another attempt.

        :raises OrqError: ``error`` itself when it may not be retried, or the
            next attempt's failure.
        """
        await self.retry_or_raise(error)
        return await self.send()
