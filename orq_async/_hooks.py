"""Observability: async hooks, per-call metrics, and the ``orq_async`` logger.

Hooks are optional coroutine functions set on the client. They receive small
frozen records, never the API key or request headers, and never prompts or
completions except the chunk itself in ``on_chunk`` (which you opt into by
setting it). A hook that raises does not break the call: the exception is
logged and dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar, final

__all__ = [
    "ChunkEvent",
    "Hooks",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "StreamMetrics",
    "configure_logging_from_env",
    "logger",
]

logger: Final = logging.getLogger("orq_async")

T = TypeVar("T")


@final
@dataclasses.dataclass(frozen=True, slots=True)
class RequestEvent:
    """An HTTP attempt is about to be sent."""

    method: str
    url: str
    attempt: int
    idempotency_key: str
    stream: bool
    #: True when this sends the same attempt again because the pooled
    #: connection it went out on had been closed by the server while idle
    #: (no backoff, not counted as a retry).
    resend: bool = False


@final
@dataclasses.dataclass(frozen=True, slots=True)
class ResponseEvent:
    """Response headers arrived for an attempt."""

    status: int
    request_id: str | None
    attempt: int
    #: Seconds from sending this attempt to its response headers.
    elapsed: float


@final
@dataclasses.dataclass(frozen=True, slots=True)
class RetryEvent:
    """The client will try again after ``delay`` seconds."""

    #: The attempt that is about to be made (2 for the first retry).
    attempt: int
    delay: float
    reason: str
    error: BaseException


@final
@dataclasses.dataclass(frozen=True, slots=True)
class ChunkEvent(Generic[T]):
    """A stream chunk is about to be handed to the caller."""

    chunk: T
    index: int
    #: Seconds since the call started.
    elapsed: float
    request_id: str | None


@final
@dataclasses.dataclass(frozen=True, slots=True)
class StreamMetrics:
    """A snapshot of one streamed call's numbers (``EventStream.metrics``)."""

    request_id: str | None = None
    #: Seconds from the call's start to the response headers.
    time_to_first_byte: float | None = None
    #: Seconds from the call's start to the first chunk handed out.
    time_to_first_chunk: float | None = None
    chunks: int = 0
    bytes: int = 0
    retries: int = 0
    #: Requests sent again at once after a stale pooled connection failed
    #: before any response byte (not counted in ``retries``).
    resends: int = 0


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Hooks:
    """Async callbacks for tracing and metrics; each is optional.

    :param on_request: ``await on_request(RequestEvent)`` before each attempt,
        and before a re-send on a fresh connection (``event.resend``).
    :param on_response: ``await on_response(ResponseEvent)`` at each attempt's
        response headers.
    :param on_retry: ``await on_retry(RetryEvent)`` before each backoff sleep.
    :param on_chunk: ``await on_chunk(ChunkEvent)`` for every stream chunk
        (costs an await per chunk; leave unset when not needed).
    :param on_error: ``await on_error(OrqError)`` when a call fails.
    """

    on_request: Callable[[RequestEvent], Awaitable[None]] | None = None
    on_response: Callable[[ResponseEvent], Awaitable[None]] | None = None
    on_retry: Callable[[RetryEvent], Awaitable[None]] | None = None
    on_chunk: Callable[[ChunkEvent[Any]], Awaitable[None]] | None = None
    on_error: Callable[[BaseException], Awaitable[None]] | None = None


NO_HOOKS: Final = Hooks()


async def call_hook(hook: Callable[[T], Awaitable[None]] | None, event: T) -> None:
    """Run ``hook(event)``; a failing hook is logged, never raised."""
    if hook is None:
        return
    try:
        await hook(event)
    except Exception:
        logger.exception("orq_async hook %r failed", getattr(hook, "__name__", hook))


def configure_logging_from_env() -> None:
    """``ORQ_LOG=debug`` (or info) turns on the ``orq_async`` logger."""
    level = os.environ.get("ORQ_LOG", "").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING"):
        return
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
        )
        logger.addHandler(handler)
