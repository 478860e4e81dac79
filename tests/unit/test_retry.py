"""The pure retry maths in orq_async._retry: clock and RNG are parameters."""

from __future__ import annotations

import dataclasses
import email.utils

import pytest

from orq_async import (
    BackoffStrategy,
    InvalidParameterError,
    InvalidParameterTypeError,
    RetryConfig,
    RetryPolicy,
)
from orq_async._retry import (
    DEFAULT_RETRY_POLICY,
    DEFAULT_RETRY_STATUSES,
    NO_RETRIES,
    SDK_RETRY_STATUSES,
    backoff_delay,
    decide_retry,
    parse_retry_after,
    resolve_retries,
)

NOW = 1_700_000_000.0


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


# --- parse_retry_after -------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"retry-after-ms": "300"}, 0.3, id="ms"),
        pytest.param({"retry-after-ms": "0"}, 0.0, id="ms-zero"),
        pytest.param({"retry-after-ms": "12.5"}, 0.0125, id="ms-float"),
        pytest.param(
            {"retry-after-ms": "300", "retry-after": "3"},
            0.3,
            id="ms-wins-over-seconds",
        ),
        pytest.param(
            {"retry-after-ms": "soon", "retry-after": "3"}, 3.0, id="bad-ms-falls-back"
        ),
        pytest.param(
            {"retry-after-ms": "-5", "retry-after": "2"},
            2.0,
            id="negative-ms-falls-back",
        ),
        pytest.param({"retry-after-ms": "nan"}, None, id="nan-ms"),
        pytest.param({"retry-after-ms": "inf"}, None, id="inf-ms"),
        pytest.param({"retry-after": "1"}, 1.0, id="seconds-int"),
        pytest.param({"retry-after": "1.5"}, 1.5, id="seconds-float"),
        pytest.param({"retry-after": " 2 "}, 2.0, id="seconds-padded"),
        pytest.param({"retry-after": "0"}, 0.0, id="seconds-zero"),
        pytest.param({"retry-after": "-1"}, None, id="seconds-negative"),
        pytest.param({"retry-after": "nan"}, None, id="seconds-nan"),
        pytest.param({"retry-after": "inf"}, None, id="seconds-inf"),
        pytest.param({"retry-after": "soon"}, None, id="garbage"),
        pytest.param({"retry-after": ""}, None, id="empty"),
        pytest.param({"retry-after": http_date(NOW + 30)}, 30.0, id="date-future"),
        pytest.param({"retry-after": http_date(NOW - 30)}, 0.0, id="date-past"),
        pytest.param(
            {"retry-after": "Tue, 14 Nov 2023 22:14:00"}, None, id="date-without-zone"
        ),
        pytest.param({"retry-after": "Mon, 99 Foo 2023"}, None, id="date-garbage"),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, NOW) == expected


# --- backoff_delay -----------------------------------------------------------

POLICY = RetryPolicy(max_retries=10, initial_delay=0.5, max_delay=8.0, exponent=2.0)


@pytest.mark.parametrize(
    ("retry_index", "rnd", "expected"),
    [
        pytest.param(0, 0.0, 0.0, id="k0-low"),
        pytest.param(0, 1.0, 0.5, id="k0-high"),
        pytest.param(1, 1.0, 1.0, id="k1-high"),
        pytest.param(2, 0.5, 1.0, id="k2-mid"),
        pytest.param(3, 1.0, 4.0, id="k3-high"),
        pytest.param(4, 1.0, 8.0, id="k4-at-cap"),
        pytest.param(5, 1.0, 8.0, id="k5-capped"),
        pytest.param(5, 0.0, 0.0, id="k5-low"),
        pytest.param(10_000, 1.0, 8.0, id="overflow-capped"),
    ],
)
def test_backoff_delay(retry_index: int, rnd: float, expected: float) -> None:
    assert backoff_delay(POLICY, retry_index, lambda: rnd) == expected


def test_backoff_delay_zero_initial_is_zero() -> None:
    policy = RetryPolicy(initial_delay=0, max_delay=5)

    assert backoff_delay(policy, 3, lambda: 1.0) == 0.0


# --- decide_retry ------------------------------------------------------------


def decide(
    policy: RetryPolicy = POLICY,
    *,
    retries_done: int = 0,
    elapsed: float = 0.0,
    remaining: float | None = None,
    retry_after: float | None = None,
    rnd: float = 1.0,
) -> tuple[float | None, str]:
    decision = decide_retry(
        policy,
        retries_done=retries_done,
        elapsed=elapsed,
        remaining=remaining,
        retry_after=retry_after,
        random=lambda: rnd,
    )
    return decision.delay, decision.reason


@pytest.mark.parametrize(
    ("kwargs", "delay", "reason_part"),
    [
        pytest.param({}, 0.5, "backoff", id="first-retry-backoff"),
        pytest.param({"retries_done": 2}, 2.0, "backoff", id="third-retry-backoff"),
        pytest.param(
            {"retries_done": 10}, None, "no retries left", id="no-retries-left"
        ),
        pytest.param(
            {"retries_done": 11}, None, "no retries left", id="past-retries-left"
        ),
        pytest.param({"retry_after": 3.0}, 3.0, "Retry-After", id="retry-after-used"),
        pytest.param(
            {"retry_after": 30.0},
            30.0,
            "Retry-After",
            id="retry-after-not-capped-by-max",
        ),
        pytest.param(
            {"retry_after": 61.0}, None, "exceeds the cap", id="retry-after-over-cap"
        ),
        pytest.param({"retry_after": 0.0}, 0.5, "backoff", id="retry-after-zero"),
        pytest.param(
            {"retry_after": 5.0, "remaining": 4.0},
            None,
            "remaining deadline",
            id="retry-after-over-deadline",
        ),
        pytest.param(
            {"remaining": 0.4}, None, "remaining deadline", id="backoff-over-deadline"
        ),
        pytest.param(
            {"remaining": 0.5}, None, "remaining deadline", id="backoff-equals-deadline"
        ),
        pytest.param({"remaining": 0.6}, 0.5, "backoff", id="backoff-inside-deadline"),
        pytest.param(
            {"retries_done": 10, "retry_after": 1.0},
            None,
            "no retries left",
            id="count-beats-retry-after",
        ),
    ],
)
def test_decide_retry(
    kwargs: dict[str, float], delay: float | None, reason_part: str
) -> None:
    got_delay, reason = decide(**kwargs)  # type: ignore[arg-type]

    assert got_delay == delay
    assert reason_part in reason


@pytest.mark.parametrize(
    ("elapsed", "delay"),
    [
        pytest.param(9.0, 0.5, id="inside-budget"),
        pytest.param(9.5, 0.5, id="exactly-at-budget"),
        pytest.param(9.6, None, id="over-budget"),
        pytest.param(11.0, None, id="already-over"),
    ],
)
def test_decide_retry_max_elapsed(elapsed: float, delay: float | None) -> None:
    policy = dataclasses.replace(POLICY, max_elapsed=10.0)

    got, reason = decide(policy, elapsed=elapsed)

    assert got == delay
    if delay is None:
        assert "max_elapsed" in reason


def test_decide_retry_cap_is_the_policy_max_retry_after() -> None:
    policy = RetryPolicy(max_retry_after=5.0)

    assert decide(policy, retry_after=5.0)[0] == 5.0
    assert decide(policy, retry_after=5.01)[0] is None


def test_decide_retry_with_no_retries_policy() -> None:
    assert decide(NO_RETRIES, retry_after=0.1)[0] is None


# --- resolve_retries ---------------------------------------------------------

CUSTOM = RetryPolicy(max_retries=7, initial_delay=0.1)
#: A RetryConfig retries what the official SDK retries for this endpoint.
SDK_DEFAULT = dataclasses.replace(
    DEFAULT_RETRY_POLICY, retry_statuses=SDK_RETRY_STATUSES
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, NO_RETRIES, id="None"),
        pytest.param(False, NO_RETRIES, id="False"),
        pytest.param(0, NO_RETRIES, id="zero"),
        pytest.param(True, DEFAULT_RETRY_POLICY, id="True"),
        pytest.param(5, RetryPolicy(max_retries=5), id="int"),
        pytest.param(CUSTOM, CUSTOM, id="policy-as-is"),
        pytest.param(RetryConfig("none"), NO_RETRIES, id="strategy-none"),
        pytest.param(
            RetryConfig("none", BackoffStrategy(1, 2, 1.5, 100)),
            NO_RETRIES,
            id="strategy-none-with-backoff",
        ),
        pytest.param(
            RetryConfig("backoff"), SDK_DEFAULT, id="backoff-without-strategy"
        ),
        pytest.param(
            RetryConfig("backoff", BackoffStrategy(500, 60000, 1.5, 3600000)),
            RetryPolicy(
                max_retries=1000,
                initial_delay=0.5,
                max_delay=60.0,
                exponent=1.5,
                max_elapsed=3600.0,
                retry_statuses=SDK_RETRY_STATUSES,
            ),
            id="backoff-ms-to-seconds",
        ),
        pytest.param(
            RetryConfig(
                "backoff",
                BackoffStrategy(1, 50, 1.1, 100),
                retry_connection_errors=False,
            ),
            RetryPolicy(
                max_retries=1000,
                initial_delay=0.001,
                max_delay=0.05,
                exponent=1.1,
                max_elapsed=0.1,
                retry_statuses=SDK_RETRY_STATUSES,
                retry_connection_errors=False,
            ),
            id="sdk-readme-example",
        ),
        pytest.param(
            RetryConfig("backoff", status_codes_override=[]),
            SDK_DEFAULT,
            id="empty-override-keeps-sdk-statuses",
        ),
    ],
)
def test_resolve_retries(value: object, expected: RetryPolicy) -> None:
    assert resolve_retries(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "statuses"),
    [
        pytest.param(["5XX"], frozenset(range(500, 600)), id="5XX"),
        pytest.param(["5xx"], frozenset(range(500, 600)), id="5xx-lower"),
        pytest.param(["429", "5XX"], frozenset({429, *range(500, 600)}), id="mixed"),
        pytest.param(["503"], frozenset({503}), id="single"),
        pytest.param(["4XX"], frozenset(range(400, 500)), id="4XX"),
    ],
)
def test_resolve_retries_status_codes_override(
    override: list[str], statuses: frozenset[int]
) -> None:
    config = RetryConfig(
        "backoff", BackoffStrategy(10, 100, 2, 1000), status_codes_override=override
    )

    assert resolve_retries(config).retry_statuses == statuses


@pytest.mark.parametrize("bad", ["5X", "600", "abc", "99", "X00"])
def test_resolve_retries_bad_status_override(bad: str) -> None:
    config = RetryConfig("backoff", status_codes_override=[bad])

    with pytest.raises(InvalidParameterError) as info:
        resolve_retries(config)

    assert info.value.field == "retries.status_codes_override"


def test_default_statuses() -> None:
    assert frozenset({408, 409, 429, 500, 502, 503, 504}) == DEFAULT_RETRY_STATUSES
    assert 501 not in DEFAULT_RETRY_STATUSES
    assert 400 not in DEFAULT_RETRY_STATUSES


@pytest.mark.parametrize(
    ("value", "error", "field"),
    [
        pytest.param("3", InvalidParameterTypeError, "retries", id="str"),
        pytest.param(2.5, InvalidParameterTypeError, "retries", id="float"),
        pytest.param(-1, InvalidParameterError, "retries.max_retries", id="negative"),
    ],
)
def test_resolve_retries_rejects(
    value: object, error: type[InvalidParameterError], field: str
) -> None:
    with pytest.raises(error) as info:
        resolve_retries(value)  # type: ignore[arg-type]

    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"max_retries": True}, "retries.max_retries", id="bool-count"),
        pytest.param({"max_retries": 1.0}, "retries.max_retries", id="float-count"),
        pytest.param({"initial_delay": -1}, "retries.initial_delay", id="neg-initial"),
        pytest.param({"max_delay": float("nan")}, "retries.max_delay", id="nan-max"),
        pytest.param({"exponent": -2}, "retries.exponent", id="neg-exponent"),
        pytest.param(
            {"max_retry_after": -1}, "retries.max_retry_after", id="neg-retry-after"
        ),
    ],
)
def test_retry_policy_validates(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]

    assert info.value.field == field
