"""Client configuration values: time limits and pool limits (frozen, pure)."""

from __future__ import annotations

import dataclasses
import math
from typing import final

from ._exceptions import InvalidParameterError, InvalidParameterTypeError

__all__ = [
    "DEFAULT_POOL_LIMITS",
    "DEFAULT_SERVER_URL",
    "DEFAULT_TIMEOUTS",
    "PoolLimits",
    "Timeouts",
]

DEFAULT_SERVER_URL = "https://api.orq.ai"
COMPLETIONS_PATH = "/v2/router/completions"


def _check_limit(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterTypeError(
            name, f"expected seconds or None, got {value!r}"
        )
    if not value > 0 or not math.isfinite(value):
        raise InvalidParameterError(
            name,
            f"must be a finite number of seconds > 0 (None: no limit), got {value!r}",
        )


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Timeouts:
    """Separate, named time limits in seconds; ``None`` turns one off.

    Each limit raises its own subclass of :class:`~orq_async.APITimeoutError`.

    :param connect: establishing the TCP (and TLS) connection.
    :param pool: waiting for a free pooled connection when the pool is full.
    :param first_byte: from sending the request to receiving the response headers.
        For a non-streaming call this covers the whole generation.
    :param stream_idle: the longest wait for the next data event (or body bytes of
        a non-streaming response). Keep-alive comments do not reset it.
    :param deadline: the whole call, including retries and backoff sleeps; for a
        stream, until its last chunk.
    """

    connect: float | None = 10.0
    pool: float | None = 10.0
    first_byte: float | None = 600.0
    stream_idle: float | None = 120.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check_limit(f"timeouts.{field.name}", getattr(self, field.name))

    def replace(
        self,
        **changes: float | None,
    ) -> Timeouts:
        """A copy with some limits changed."""
        return dataclasses.replace(self, **changes)


@final
@dataclasses.dataclass(frozen=True, slots=True)
class PoolLimits:
    """The connection pool (one aiohttp TCPConnector per client per event loop).

    :param max_connections: open connections at most, over all hosts.
    :param max_connections_per_host: at most per host; 0 means only the total applies.
    :param keepalive_expiry: seconds an idle connection stays in the pool.
    :param dns_cache_ttl: seconds a DNS answer is cached; None caches forever.
    """

    max_connections: int = 1000
    max_connections_per_host: int = 0
    keepalive_expiry: float = 30.0
    dns_cache_ttl: int | None = 300

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_connections_per_host"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterTypeError(f"limits.{name}", "expected int")
            if value < 0:
                raise InvalidParameterError(f"limits.{name}", "must be >= 0")
        if self.max_connections == 0:
            raise InvalidParameterError(
                "limits.max_connections",
                "must be >= 1 (an unbounded pool cannot time out)",
            )
        _check_limit("limits.keepalive_expiry", self.keepalive_expiry)
        ttl: object = self.dns_cache_ttl
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0
        ):
            raise InvalidParameterError(
                "limits.dns_cache_ttl", "must be an int >= 0 (seconds) or None"
            )


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_POOL_LIMITS = PoolLimits()
