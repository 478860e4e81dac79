"""One logical call: its attempts, retries, deadline and error mapping.

A :class:`Call` owns everything that stays the same across attempts (the encoded
body, the headers with one idempotency key, the retry policy, the absolute
deadline) and counts attempts. :meth:`Call.send` returns the first 2xx response;
a stream that fails before its first chunk reached the caller asks
:meth:`Call.retry` for a fresh response.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Final

import anyio

from ._codec import parse_error_body
from ._config import Timeouts
from ._exceptions import (
    APIConnectionError,
    APIError,
    DeadlineExceededError,
    OrqError,
    PoolTimeoutError,
    RateLimitError,
    excerpt,
    status_error_class,
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
from ._retry import RetryPolicy, decide_retry, parse_retry_after
from ._transport import ATTEMPT, IDEMPOTENCY_KEY, HTTPResponse, Transport

__all__ = ["ATTEMPT_HEADER", "IDEMPOTENCY_HEADER", "Call", "api_error_from_response"]


IDEMPOTENCY_HEADER: Final = IDEMPOTENCY_KEY
#: The attempt header's values, shared rather than built per request.
_ATTEMPTS: Final = tuple(str(i) for i in range(64))
#: Shared by every call that dropped its headers (never written to: no attempt
#: follows forget_request()).
_NO_HEADERS: Final[dict[str, str]] = {}
#: Error bodies are read up to this size; the rest is dropped with the connection.
ERROR_BODY_LIMIT: Final = 1024 * 1024
#: How long an error body may take when no idle limit is set.
DEFAULT_ERROR_READ: Final = 30.0
ATTEMPT_HEADER: Final = ATTEMPT

# A plain module-level RNG: decide_retry() takes it as a parameter, so tests
# can pass their own.
_random = random.Random()


def api_error_from_response(
    resp: HTTPResponse,
    body: bytes,
    *,
    attempts: int,
    now: float,
    secret: bytes = b"",
) -> APIError:
    """The typed :class:`APIError` for a non-2xx response whose body was read.

    ``secret`` (the API key) is masked wherever a server echoed it back.
    """
    if secret and secret in body:
        body = body.replace(secret, b"[redacted]")
    status = resp.status
    text = body.decode("utf-8", "replace")
    envelope = parse_error_body(body) if body else None
    kwargs: dict[str, object] = {}
    if envelope is not None:
        detail = envelope.error
        message = detail.message or f"HTTP {status} error"
        kwargs.update(
            type=detail.type,
            param=detail.param,
            code=None if detail.code is None else str(detail.code),
        )
    elif not body.strip():
        message = f"HTTP {status} with an empty body"
    else:
        ctype = resp.content_type or "no content type"
        message = f"HTTP {status} ({ctype}): {excerpt(text)}"
    klass = status_error_class(status)
    common = dict(
        status_code=status,
        body=text,
        headers=dict(resp.headers),
        request_id=resp.request_id,
        attempts=attempts,
        **kwargs,
    )
    if klass is RateLimitError:
        return RateLimitError(
            message,
            retry_after=parse_retry_after(resp.headers, now),
            **common,
        )
    return klass(message, **common)  # type: ignore[arg-type]


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
        "secret",
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
    ) -> None:
        self._transport = transport
        self._url = url
        self._body = body
        self._headers = headers
        self.policy = policy
        self.timeouts = timeouts
        self.hooks = hooks
        #: The API key as bytes, to mask in anything a server echoes back.
        self.secret = secret
        #: The running loop, looked up once for the whole call.
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.deadline: float | None = (
            None if timeouts.deadline is None else self.started + timeouts.deadline
        )
        self.attempts = 0
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
        hooks = self.hooks
        try:
            while True:
                if self.deadline is not None and self.loop.time() >= self.deadline:
                    raise DeadlineExceededError(
                        f"the call's deadline of {self.timeouts.deadline}s passed "
                        f"after {self.attempts} attempt(s)"
                    )
                attempt = self.attempts = self.attempts + 1
                self._headers[ATTEMPT_HEADER] = (
                    _ATTEMPTS[attempt] if attempt < len(_ATTEMPTS) else str(attempt)
                )
                if hooks.on_request is not None:
                    await call_hook(
                        hooks.on_request,
                        RequestEvent(
                            method="POST",
                            url=self._url,
                            attempt=self.attempts,
                            idempotency_key=self._headers.get(IDEMPOTENCY_HEADER, ""),
                            stream=self._headers.get("Accept") == "text/event-stream",
                        ),
                    )
                sent = self.started if attempt == 1 else self.loop.time()
                try:
                    resp = await self._transport.post(
                        self._url,
                        self._body,
                        self._headers,
                        timeouts=self.timeouts,
                        deadline=self.deadline,
                        loop=self.loop,
                    )
                except APIConnectionError as exc:
                    await self.retry_or_raise(exc)
                    continue
                now = self.loop.time()
                self.time_to_first_byte = now - self.started
                if logger.isEnabledFor(logging.DEBUG):  # request_id is looked up
                    logger.debug(
                        "POST %s -> %d in %.1f ms (attempt %d, request id %s)",
                        self._url,
                        resp.status,
                        (now - sent) * 1000,
                        self.attempts,
                        resp.request_id,
                    )
                if hooks.on_response is not None:
                    await call_hook(
                        hooks.on_response,
                        ResponseEvent(
                            status=resp.status,
                            request_id=resp.request_id,
                            attempt=self.attempts,
                            elapsed=now - sent,
                        ),
                    )
                if 200 <= resp.status < 300:
                    return resp
                body = await self._read_error_body(resp)
                error = api_error_from_response(
                    resp,
                    body,
                    attempts=self.attempts,
                    now=time.time(),
                    secret=self.secret,
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
        except OrqError as exc:
            await self.failed(exc)
            raise

    async def failed(self, error: OrqError) -> None:
        """Report a final failure of this call (log and ``on_error``), once."""
        # Marked on the error itself: a stream's failure can pass through both
        # its retry path and its iterator, and must be reported once.
        if getattr(error, "_orq_reported", False):
            return
        error._orq_reported = True  # type: ignore[attr-defined]
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

    async def retry(self, error: OrqError) -> HTTPResponse:
        """A fresh response after a stream failed before its first chunk.

        :raises OrqError: ``error`` itself when it may not be retried.
        """
        try:
            await self.retry_or_raise(error)
        except OrqError as exc:
            await self.failed(exc)
            raise
        return await self.send()
