"""Time limits, client retries and cancellation against the fake router.

Timing bounds are generous on purpose: these check behaviour, not speed.
"""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from collections.abc import Iterator

import anyio
import pytest

from orq_async import (
    APIConnectionError,
    AsyncOrq,
    BackoffStrategy,
    ConnectTimeoutError,
    DeadlineExceededError,
    FirstByteTimeoutError,
    Hooks,
    InternalServerError,
    PoolLimits,
    PoolTimeoutError,
    RateLimitError,
    RetryConfig,
    RetryPolicy,
    Timeouts,
)
from orq_async.testing import FakeOrqServer, FakeResponse

from ..conftest import API_KEY


def _gaps(server: FakeOrqServer) -> list[float]:
    times = [r.received_at for r in server.requests]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A listener whose accept backlog is full: new connections never complete."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    port = listener.getsockname()[1]
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_pool_timeout_is_distinct_fast_and_not_retried(
    server: FakeOrqServer,
) -> None:
    server.enqueue(
        FakeResponse.stream(["a"], done=False, then="hang"),
        FakeResponse.stream(["b"], done=False, then="hang"),
    )
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        limits=PoolLimits(max_connections=2),
        timeouts=Timeouts(pool=0.5),
    ) as orq:
        one = await orq.router.completions.create(model="m", prompt="p", stream=True)
        two = await orq.router.completions.create(model="m", prompt="p", stream=True)
        started = time.monotonic()
        with pytest.raises(PoolTimeoutError) as info:
            await orq.router.completions.create(model="m", prompt="p")
        waited = time.monotonic() - started
        assert 0.4 <= waited < 1.5
        assert not info.value.retryable
        assert len(server.requests) == 2  # the third never left the pool
        await one.aclose()
        started = time.monotonic()
        res = await orq.router.completions.create(model="m", prompt="p", max_tokens=2)
        assert time.monotonic() - started < 0.5
        assert res.choices[0].text
        await two.aclose()


async def test_connect_timeout(blackhole: str) -> None:
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=blackhole,
        timeouts=Timeouts(connect=0.3),
        retries=0,
    ) as orq:
        started = time.monotonic()
        with pytest.raises(ConnectTimeoutError) as info:
            await orq.router.completions.create(model="m", prompt="p")
        assert 0.25 <= time.monotonic() - started < 2.0
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value, APIConnectionError)


async def test_first_byte_timeout_is_retried_with_the_same_key(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.completion("late", delay=3))
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        timeouts=Timeouts(first_byte=0.3),
        retries=RetryPolicy(max_retries=1, initial_delay=0.01),
    ) as orq:
        res = await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    assert res.choices[0].text == "This"
    assert len(server.requests) == 2
    keys = {r.headers["Idempotency-Key"] for r in server.requests}
    assert len(keys) == 1
    assert [r.headers["X-Orq-Attempt"] for r in server.requests] == ["1", "2"]


async def test_first_byte_timeout_raises_when_out_of_retries(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.completion("late", delay=3))
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, timeouts=Timeouts(first_byte=0.3)
    ) as orq:
        started = time.monotonic()
        with pytest.raises(FirstByteTimeoutError):
            await orq.router.completions.create(model="m", prompt="p", retries=None)
        assert 0.25 <= time.monotonic() - started < 1.5


async def test_deadline_covers_retries_and_backoff(server: FakeOrqServer) -> None:
    server.enqueue(*[FakeResponse.error(503, "busy") for _ in range(50)])
    policy = RetryPolicy(max_retries=50, initial_delay=0.3, max_delay=0.3)
    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=policy) as orq:
        started = time.monotonic()
        with pytest.raises((InternalServerError, DeadlineExceededError)):
            await orq.router.completions.create(model="m", prompt="p", timeouts=1.0)
        elapsed = time.monotonic() - started
    # Never sleeps past the deadline: it gives up before a wait that would.
    assert elapsed < 1.3
    assert 1 < len(server.requests) < 50


async def test_deadline_while_waiting_for_headers(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.completion("late", delay=3))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            await orq.router.completions.create(model="m", prompt="p", timeouts=0.4)
        assert 0.35 <= time.monotonic() - started < 1.5


async def test_stream_deadline_until_last_chunk(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.stream(["x"] * 100, event_delay=0.05))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        stream = await orq.router.completions.create(
            model="m", prompt="p", stream=True, timeouts=0.5
        )
        received = 0
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            async with stream:
                async for _ in stream:
                    received += 1
        assert 0.4 <= time.monotonic() - started < 1.5
        assert 0 < received < 100


async def test_retry_after_seconds_is_honoured(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.error(429, "slow down", headers={"Retry-After": "1"}))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    assert len(server.requests) == 2
    assert _gaps(server)[0] >= 0.95
    assert [r.headers["X-Orq-Attempt"] for r in server.requests] == ["1", "2"]
    assert len({r.headers["Idempotency-Key"] for r in server.requests}) == 1


async def test_retry_after_ms_wins(server: FakeOrqServer) -> None:
    server.enqueue(
        FakeResponse.error(
            429, "slow down", headers={"retry-after-ms": "250", "Retry-After": "3"}
        )
    )
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    gap = _gaps(server)[0]
    assert 0.22 <= gap < 1.5


async def test_retry_after_above_cap_raises_at_once(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.error(429, "later", headers={"Retry-After": "3600"}))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await orq.router.completions.create(model="m", prompt="p")
        assert time.monotonic() - started < 0.5
    assert info.value.retry_after == 3600
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            email.utils.formatdate(time.time() - 3600, usegmt=True), id="date-in-past"
        ),
        pytest.param("soon-ish", id="garbage"),
    ],
)
async def test_bad_retry_after_falls_back_to_backoff(
    server: FakeOrqServer, value: str
) -> None:
    server.enqueue(FakeResponse.error(429, "x", headers={"Retry-After": value}))
    policy = RetryPolicy(max_retries=1, initial_delay=0.05, max_delay=0.05)
    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=policy) as orq:
        await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    assert len(server.requests) == 2
    assert _gaps(server)[0] < 0.5


async def test_503_forever_gives_three_attempts(server: FakeOrqServer) -> None:
    server.enqueue(*[FakeResponse.error(503, "down") for _ in range(5)])
    policy = RetryPolicy(max_retries=2, initial_delay=0.1, max_delay=0.1)
    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=policy) as orq:
        with pytest.raises(InternalServerError) as info:
            await orq.router.completions.create(model="m", prompt="p")
    assert len(server.requests) == 3
    assert info.value.attempts == 3
    assert all(0 <= gap < 0.5 for gap in _gaps(server))


async def test_sdk_retry_config_shape_runs_unchanged(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.error(500, "a"), FakeResponse.error(502, "b"))
    config = RetryConfig(
        "backoff", BackoffStrategy(10, 50, 1.1, 5000), retry_connection_errors=False
    )
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        res = await orq.router.completions.create(
            model="m", prompt="p", max_tokens=1, retries=config
        )
    assert res.choices[0].text == "This"
    assert len(server.requests) == 3


async def test_cancel_during_backoff_is_prompt_and_sends_nothing_more(
    server: FakeOrqServer,
) -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=5, max_delay=5)
    # Full jitter could pick a tiny wait; a Retry-After pins it.
    server.enqueue(FakeResponse.error(503, "down", headers={"Retry-After": "5"}))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=policy) as orq:
        task = asyncio.ensure_future(
            orq.router.completions.create(model="m", prompt="p")
        )
        for _ in range(500):
            if server.requests:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # now sleeping before the retry
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.05
        await asyncio.sleep(0.2)
    assert len(server.requests) == 1


async def test_move_on_after_around_a_call(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.completion("late", delay=2))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        started = time.monotonic()
        with anyio.move_on_after(0.2) as scope:
            await orq.router.completions.create(model="m", prompt="p")
        assert scope.cancelled_caught
        assert time.monotonic() - started < 1.0
        # The pool is healthy afterwards.
        res = await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
        assert res.choices[0].text == "This"


async def test_pool_timeouts_are_retried_when_the_policy_opts_in(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.stream(["a"], done=False, then="hang"))
    policy = RetryPolicy(max_retries=5, initial_delay=0.05, retry_pool_timeouts=True)
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        limits=PoolLimits(max_connections=1),
        timeouts=Timeouts(pool=0.2),
        retries=policy,
    ) as orq:
        held = await orq.router.completions.create(model="m", prompt="p", stream=True)
        seen: list[object] = []

        async def on_retry(event: object) -> None:
            seen.append(event)
            if len(seen) == 2:
                await held.aclose()  # free the only connection while retrying

        orq.hooks = Hooks(on_retry=on_retry)
        res = await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    assert res.choices[0].text == "This"
    assert len(seen) == 2
    assert all("PoolTimeoutError" in e.reason for e in seen)  # type: ignore[attr-defined]


async def test_pool_timeouts_are_not_retried_by_default(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.stream(["a"], done=False, then="hang"))
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        limits=PoolLimits(max_connections=1),
        timeouts=Timeouts(pool=0.2),
        retries=RetryPolicy(max_retries=5, initial_delay=0.01),
    ) as orq:
        held = await orq.router.completions.create(model="m", prompt="p", stream=True)
        with pytest.raises(PoolTimeoutError):
            await orq.router.completions.create(model="m", prompt="p")
        await held.aclose()
    assert len(server.requests) == 1
