"""Client-side retry policy and its pure maths.

Contract: synchronous and pure. The clock and the random number generator are
parameters, so every decision here is unit-tested without patching time (the
trap openai's ``_calculate_retry_timeout`` falls into).

This is the *client* layer: it re-sends an HTTP request that failed before
anything reached the caller. The request-body fields ``retry``, ``fallbacks``,
``fallback_on_codes``, ``timeout`` and ``load_balancer`` configure the Orq
*gateway*, which retries provider calls server-side; the two are unrelated.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
from collections.abc import Callable, Iterable, Mapping
from typing import final

from ._exceptions import InvalidParameterError, InvalidParameterTypeError

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_RETRY_STATUSES",
    "NO_RETRIES",
    "BackoffStrategy",
    "RetryConfig",
    "RetryDecision",
    "RetryPolicy",
    "SDK_RETRY_STATUSES",
    "backoff_delay",
    "decide_retry",
    "parse_retry_after",
    "resolve_retries",
]

#: 408 and 409 are transient at the gateway (its own call timeout, a lock); 429 is
#: rate limiting; 500/502/503/504 are server or upstream trouble. 501 is not
#: transient and 529 is left to the gateway's own fallbacks.
DEFAULT_RETRY_STATUSES = frozenset((408, 409, 429, 500, 502, 503, 504))
#: What the official SDK retries for this endpoint: the statuses a
#: :class:`RetryConfig` without ``status_codes_override`` retries here too.
SDK_RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))


@final
@dataclasses.dataclass(frozen=True, slots=True)
class BackoffStrategy:
    """The official SDK's backoff shape; every interval is in **milliseconds**."""

    initial_interval: int
    max_interval: int
    exponent: float
    max_elapsed_time: int
    jitter_ms: int | None = None


@final
@dataclasses.dataclass(frozen=True, slots=True)
class RetryConfig:
    """The official SDK's retry shape, accepted unchanged.

    ``strategy="backoff"`` retries until ``backoff.max_elapsed_time`` runs out;
    any other strategy (``"none"``) makes one attempt.
    ``status_codes_override`` takes codes or wildcards such as ``"5XX"``;
    without it the statuses the official SDK retries for this endpoint are
    retried: 429, 500, 502, 503 and 504.
    """

    strategy: str
    backoff: BackoffStrategy | None = None
    retry_connection_errors: bool = True
    status_codes_override: list[str] | None = None


def _expand_statuses(codes: Iterable[str | int]) -> frozenset[int]:
    out: set[int] = set()
    for code in codes:
        text = str(code).strip().upper()
        if len(text) == 3 and text[0].isdigit() and text[1:] == "XX":
            base = int(text[0]) * 100
            out.update(range(base, base + 100))
        elif text.isdigit() and 100 <= int(text) <= 599:
            out.add(int(text))
        else:
            raise InvalidParameterError(
                "retries.status_codes_override", f"not a status code: {code!r}"
            )
    return frozenset(out)


@final
@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the client retries a call. Seconds throughout.

    :param max_retries: retries after the first attempt (0 turns retrying off).
    :param initial_delay: backoff base; retry ``k`` waits up to
        ``min(max_delay, initial_delay * exponent**k)`` (full jitter).
    :param max_elapsed: give up once this much time has passed since the first
        attempt (None: only ``max_retries`` and the call's deadline bound it).
    :param max_retry_after: the longest server-requested wait we honour; a longer
        ``Retry-After`` raises at once with ``.retry_after`` set.
    :param retry_statuses: the HTTP statuses worth another attempt.
    :param retry_connection_errors: retry refused/reset connections and
        connect or first-byte timeouts.
    :param retry_pool_timeouts: also retry a pool-acquire timeout (off: a full
        pool is local back-pressure, not a server fault).
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    exponent: float = 2.0
    max_elapsed: float | None = None
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_connection_errors: bool = True
    retry_pool_timeouts: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidParameterTypeError("retries.max_retries", "expected int")
        if self.max_retries < 0:
            raise InvalidParameterError("retries.max_retries", "must be >= 0")
        for name in ("initial_delay", "max_delay", "exponent", "max_retry_after"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise InvalidParameterError(
                    f"retries.{name}", "must be a finite number >= 0"
                )
        elapsed: object = self.max_elapsed
        if elapsed is not None and (
            not isinstance(elapsed, int | float)
            or not math.isfinite(elapsed)
            or elapsed < 0
        ):
            raise InvalidParameterError(
                "retries.max_elapsed", "must be a finite number >= 0 or None"
            )


DEFAULT_RETRY_POLICY = RetryPolicy()
NO_RETRIES = RetryPolicy(max_retries=0)

RetriesArg = RetryPolicy | RetryConfig | int | bool | None


def resolve_retries(value: RetriesArg) -> RetryPolicy:
    """Any accepted ``retries=`` form as a :class:`RetryPolicy`.

    ``None``/``False``/``0`` turn retrying off, ``True`` is the default policy,
    an int is ``max_retries``, and the SDK's :class:`RetryConfig` is translated
    from milliseconds.
    """
    if value is None or value is False:
        return NO_RETRIES
    if value is True:
        return DEFAULT_RETRY_POLICY
    if isinstance(value, RetryPolicy):
        return value
    if isinstance(value, int):
        return RetryPolicy(max_retries=value)
    if isinstance(value, RetryConfig):
        if value.strategy != "backoff":
            return NO_RETRIES
        statuses = (
            _expand_statuses(value.status_codes_override)
            if value.status_codes_override
            else SDK_RETRY_STATUSES
        )
        b = value.backoff
        if b is None:
            return dataclasses.replace(
                DEFAULT_RETRY_POLICY,
                retry_statuses=statuses,
                retry_connection_errors=value.retry_connection_errors,
            )
        # The SDK bounds retries by elapsed time only; keep a generous count cap
        # so a zero interval cannot spin.
        return RetryPolicy(
            max_retries=1000,
            initial_delay=b.initial_interval / 1000,
            max_delay=b.max_interval / 1000,
            exponent=b.exponent,
            max_elapsed=b.max_elapsed_time / 1000,
            retry_statuses=statuses,
            retry_connection_errors=value.retry_connection_errors,
        )
    raise InvalidParameterTypeError(
        "retries",
        "expected RetryPolicy, RetryConfig, int, bool or None, "
        f"got {type(value).__name__}",
    )


def backoff_delay(
    policy: RetryPolicy, retry_index: int, random: Callable[[], float]
) -> float:
    """The wait before retry number ``retry_index`` (0 for the first retry).

    Full jitter (AWS "Exponential Backoff and Jitter"): uniform in
    ``[0, min(max_delay, initial * exponent**k))``. It spreads a herd of clients
    better than openai's 0-25 % downward jitter.
    """
    try:
        ceiling = policy.initial_delay * policy.exponent**retry_index
    except OverflowError:
        ceiling = policy.max_delay
    return random() * min(policy.max_delay, ceiling)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked us to wait, or None.

    ``retry-after-ms`` (float milliseconds) wins over ``Retry-After``, which is
    float seconds or an HTTP date (RFC 9110 §10.2.3). ``now`` is the wall clock
    (epoch seconds), used only for dates. A date in the past gives 0; garbage and
    negative or non-finite numbers give None (fall back to backoff).
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


@final
@dataclasses.dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after a failed attempt: ``delay`` seconds, or give up (None)."""

    delay: float | None
    reason: str


def decide_retry(
    policy: RetryPolicy,
    *,
    retries_done: int,
    elapsed: float,
    remaining: float | None,
    retry_after: float | None,
    random: Callable[[], float],
) -> RetryDecision:
    """Whether and when to try again after a retryable failure.

    :param retries_done: retries already made (0 after the first attempt).
    :param elapsed: seconds since the first attempt started.
    :param remaining: seconds left before the call's deadline (None: no deadline).
    :param retry_after: what :func:`parse_retry_after` found, if anything.

    A wait is never started if it would run past the deadline or the policy's
    ``max_elapsed``: the caller gets the error now instead of after a pointless
    sleep.
    """
    if retries_done >= policy.max_retries:
        return RetryDecision(None, f"no retries left ({policy.max_retries} allowed)")
    if retry_after is not None and retry_after > 0:
        if retry_after > policy.max_retry_after:
            return RetryDecision(
                None,
                f"Retry-After {retry_after:g}s exceeds the cap of "
                f"{policy.max_retry_after:g}s",
            )
        delay = retry_after
        source = "Retry-After"
    else:
        delay = backoff_delay(policy, retries_done, random)
        source = "backoff"
    if remaining is not None and delay >= remaining:
        return RetryDecision(
            None, f"{source} wait {delay:.3g}s exceeds the remaining deadline"
        )
    if policy.max_elapsed is not None and elapsed + delay > policy.max_elapsed:
        return RetryDecision(
            None,
            f"{source} wait {delay:.3g}s exceeds max_elapsed {policy.max_elapsed:g}s",
        )
    return RetryDecision(delay, source)
