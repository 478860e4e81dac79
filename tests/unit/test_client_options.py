"""Bad client options fail at construction, with a typed error naming the option.

Nothing here opens a socket: the errors come from ``AsyncOrq(...)``,
``Timeouts(...)`` and ``PoolLimits(...)`` themselves.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from orq_async import (
    AsyncOrq,
    InvalidParameterError,
    InvalidParameterTypeError,
    PoolLimits,
    RetryPolicy,
    Timeouts,
)


@pytest.mark.parametrize(
    ("options", "field", "error"),
    [
        pytest.param(
            {"api_key": 12345}, "api_key", InvalidParameterTypeError, id="key-int"
        ),
        pytest.param(
            {"server_url": "https://"},
            "server_url",
            InvalidParameterError,
            id="url-no-host",
        ),
        pytest.param(
            {"timeouts": 30.0},
            "timeouts",
            InvalidParameterTypeError,
            id="timeouts-float",
        ),
        pytest.param(
            {"limits": {"max_connections": 10}},
            "limits",
            InvalidParameterTypeError,
            id="limits-dict",
        ),
        pytest.param(
            {"max_event_size": 2.5e6},
            "max_event_size",
            InvalidParameterTypeError,
            id="event-size-float",
        ),
        pytest.param(
            {"max_event_size": 100},
            "max_event_size",
            InvalidParameterError,
            id="event-size-tiny",
        ),
        pytest.param(
            {"max_response_size": True},
            "max_response_size",
            InvalidParameterTypeError,
            id="response-size-bool",
        ),
        pytest.param(
            {"max_response_size": 0},
            "max_response_size",
            InvalidParameterError,
            id="response-size-zero",
        ),
    ],
)
def test_bad_client_options_are_rejected(
    options: dict[str, Any], field: str, error: type[InvalidParameterError]
) -> None:
    kwargs: dict[str, Any] = {"api_key": "k", **options}
    with pytest.raises(error) as caught:
        AsyncOrq(**kwargs)
    assert type(caught.value) is error
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("options", "field", "error"),
    [
        pytest.param(
            {"connect": "10"}, "timeouts.connect", InvalidParameterTypeError, id="str"
        ),
        pytest.param(
            {"stream_idle": True},
            "timeouts.stream_idle",
            InvalidParameterTypeError,
            id="bool",
        ),
        pytest.param(
            {"deadline": 0}, "timeouts.deadline", InvalidParameterError, id="zero"
        ),
    ],
)
def test_bad_time_limits_are_rejected(
    options: dict[str, Any], field: str, error: type[InvalidParameterError]
) -> None:
    with pytest.raises(error) as caught:
        Timeouts(**options)
    assert type(caught.value) is error
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("options", "field", "error"),
    [
        pytest.param(
            {"max_connections": 10.0},
            "limits.max_connections",
            InvalidParameterTypeError,
            id="float-total",
        ),
        pytest.param(
            {"max_connections_per_host": -1},
            "limits.max_connections_per_host",
            InvalidParameterError,
            id="negative-per-host",
        ),
        pytest.param(
            {"max_connections": 0},
            "limits.max_connections",
            InvalidParameterError,
            id="unbounded",
        ),
        pytest.param(
            {"dns_cache_ttl": 1.5},
            "limits.dns_cache_ttl",
            InvalidParameterError,
            id="fractional-ttl",
        ),
        pytest.param(
            {"dns_cache_ttl": -1},
            "limits.dns_cache_ttl",
            InvalidParameterError,
            id="negative-ttl",
        ),
    ],
)
def test_bad_pool_limits_are_rejected(
    options: dict[str, Any], field: str, error: type[InvalidParameterError]
) -> None:
    with pytest.raises(error) as caught:
        PoolLimits(**options)
    assert type(caught.value) is error
    assert caught.value.field == field


def test_good_options_are_kept() -> None:
    timeouts = Timeouts(connect=1, deadline=None)
    limits = PoolLimits(max_connections=5, dns_cache_ttl=None)
    orq = AsyncOrq(
        api_key="k",
        server_url="http://127.0.0.1:9/",
        timeouts=timeouts,
        limits=limits,
        max_event_size=1024,
        max_response_size=1024,
    )
    assert orq.server_url == "http://127.0.0.1:9"
    assert (orq.timeouts, orq.limits) == (timeouts, limits)
    assert (orq.max_event_size, orq.max_response_size) == (1024, 1024)


@pytest.mark.parametrize("bad", [math.inf, math.nan, -1.0, 0])
def test_non_finite_or_non_positive_limits_are_rejected(bad: float) -> None:
    with pytest.raises(InvalidParameterError):
        Timeouts(connect=bad)
    with pytest.raises(InvalidParameterError):
        RetryPolicy(initial_delay=bad if bad != 0 else -1)
