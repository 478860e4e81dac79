"""One logical call: its attempts, retries, deadline and error mapping.

A :class:`Call` owns everything that stays the same across attempts (the encoded
body, the headers with one idempotency key, the retry policy, the absolute
deadline) and counts attempts. :meth:`Call.send` returns the first 2xx response;
a stream that fails before its first chunk reached the caller asks
:meth:`Call.retry` for a fresh response.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
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
from ._retry import RetryPolicy, decide_retry, parse_retry_after
from ._transport import HTTPResponse, Transport

__all__ = ["ATTEMPT_HEADER", "IDEMPOTENCY_HEADER", "Call", "api_error_from_response"]

logger = logging.getLogger("orq_async")

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
ATTEMPT_HEADER: Final = "X-Orq-Attempt"

# A plain module-level RNG: decide_retry() takes it as a parameter, so tests
# can pass their own.
_random = random.Random()


def api_error_from_response(
    resp: HTTPResponse, body: bytes, *, attempts: int, now: float
) -> APIError:
    """The typed :class:`APIError` for a non-2xx response whose body was read."""
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
        "policy",
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
    ) -> None:
        self._transport = transport
        self._url = url
        self._body = body
        self._headers = headers
        self.policy = policy
        self.timeouts = timeouts
        self._started = anyio.current_time()
        self.deadline: float | None = (
            None if timeouts.deadline is None else self._started + timeouts.deadline
        )
        self.attempts = 0

    @property
    def request_headers(self) -> Mapping[str, str]:
        return self._headers

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - anyio.current_time()

    async def send(self) -> HTTPResponse:
        """Attempt until a 2xx response arrives or retrying must stop.

        :raises APIError: a non-2xx status (after any retries).
        :raises APIConnectionError: a network failure or a time limit (after any
            retries).
        """
        while True:
            remaining = self.remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceededError(
                    f"the call's deadline of {self.timeouts.deadline}s passed "
                    f"after {self.attempts} attempt(s)"
                )
            self.attempts += 1
            self._headers[ATTEMPT_HEADER] = str(self.attempts)
            try:
                resp = await self._transport.post(
                    self._url,
                    self._body,
                    self._headers,
                    timeouts=self.timeouts,
                    deadline=self.deadline,
                )
            except APIConnectionError as exc:
                await self.retry_or_raise(exc)
                continue
            logger.debug(
                "POST %s -> %d (attempt %d, request id %s)",
                self._url,
                resp.status,
                self.attempts,
                resp.request_id,
            )
            if 200 <= resp.status < 300:
                return resp
            body = await resp.read(
                idle=self.timeouts.stream_idle, deadline=self.deadline
            )
            resp.release()
            error = api_error_from_response(
                resp, body, attempts=self.attempts, now=time.time()
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

    async def retry_or_raise(
        self, error: OrqError, *, retry_after: float | None = None
    ) -> None:
        """Sleep before the next attempt, or raise ``error`` if there is none.

        Only call this while nothing of the call has reached the caller.
        """
        if not error.retryable:
            raise error
        if isinstance(error, PoolTimeoutError):
            if not self.policy.retry_pool_timeouts:
                raise error
        elif isinstance(error, APIConnectionError) and not isinstance(error, APIError):
            if not self.policy.retry_connection_errors:
                raise error
        decision = decide_retry(
            self.policy,
            retries_done=self.attempts - 1,
            elapsed=anyio.current_time() - self._started,
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
        await anyio.sleep(decision.delay)

    async def retry(self, error: OrqError) -> HTTPResponse:
        """A fresh response after a stream failed before its first chunk.

        :raises OrqError: ``error`` itself when it may not be retried.
        """
        await self.retry_or_raise(error)
        return await self.send()
