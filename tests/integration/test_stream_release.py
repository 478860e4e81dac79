"""Every way a stream can end gives its connection back, at once and without warnings.

Full consumption (kept for reuse),
``break`` with and without ``async with``, a dropped reference without
``gc.collect()``, an exception in the consumer, task cancellation, anyio and
asyncio timeouts, ``aclose()`` of the stream and of the client. "Released" is
observed on the server side (the fake router records the disconnect and its
time) and in the client's pool (no connection left checked out).

``filterwarnings = error`` turns any ResourceWarning ("Unclosed connection",
"Unclosed response") into a failure, including ones raised from ``__del__``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time

import anyio
import pytest

from orq_async import (
    AsyncOrq,
    ClientClosedError,
    StreamConsumedError,
    Timeouts,
)
from orq_async.testing import FakeOrqServer, FakeResponse

from ..helpers import hanging_stream, read_into

pytestmark = pytest.mark.usefixtures("no_unclosed_logs")

MODEL = "openai/gpt-4o-mini"

#: Server-side grace for seeing a disconnect: the fake router polls every 10 ms.
PROMPT = 0.3


async def assert_released(
    server: FakeOrqServer, client: AsyncOrq, since: float
) -> None:
    seen = await server.wait_for_disconnect(timeout=2.0)
    assert seen - since < PROMPT
    assert client.pool_stats().in_use == 0


# -- normal end: kept for reuse ---------------------------------------------------


async def test_fully_consumed_streams_reuse_one_connection(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    for _ in range(2):
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True, max_tokens=3
        )
        async with stream:
            assert len([chunk async for chunk in stream]) == 3
        assert client.pool_stats().in_use == 0

    assert len(server.requests) == 2
    assert len(server.connections) == 1
    assert server.disconnects == []


async def test_fully_consumed_stream_without_async_with_is_released(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True, max_tokens=3
    )
    assert len([chunk async for chunk in stream]) == 3
    assert client.pool_stats().in_use == 0
    await client.router.completions.create(model=MODEL, prompt="Hi", max_tokens=1)

    assert len(server.connections) == 1


# -- early exits inside async with ------------------------------------------------


async def test_exception_in_the_consumer_releases_and_propagates_unchanged(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    boom = ValueError("consumer bug")
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )

    with pytest.raises(ValueError) as info:
        async with stream:
            async for _chunk in stream:
                raise boom
    since = time.monotonic()

    assert info.value is boom
    assert info.value.__context__ is None
    await assert_released(server, client, since)


async def test_break_inside_async_with_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )

    async with stream:
        async for _chunk in stream:
            break
    since = time.monotonic()

    await assert_released(server, client, since)
    with pytest.raises(StreamConsumedError):
        await stream.__anext__()


async def test_break_then_next_stream_opens_a_fresh_connection(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    async with stream:
        async for _chunk in stream:
            break
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True, max_tokens=2
    )
    async with stream:
        assert len([chunk async for chunk in stream]) == 2

    assert len(server.connections) == 2
    assert client.pool_stats().in_use == 0


# -- break without async with, reference dropped ----------------------------------


@pytest.mark.parametrize(
    "timeouts",
    [
        pytest.param(Timeouts(stream_idle=None), id="no-timer"),
        pytest.param(Timeouts(), id="default-idle-timer"),
        pytest.param(Timeouts(stream_idle=30.0, deadline=60.0), id="idle-and-deadline"),
    ],
)
async def test_break_without_async_with_and_dropped_reference_releases(
    client: AsyncOrq, server: FakeOrqServer, timeouts: Timeouts
) -> None:
    server.enqueue(hanging_stream())
    gc.disable()  # prove it is reference counting, not a collector pass
    try:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True, timeouts=timeouts
        )
        async for _chunk in stream:
            break
        del stream
        since = time.monotonic()
        await assert_released(server, client, since)
    finally:
        gc.enable()


async def test_abandoned_stream_in_a_finished_task_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())

    async def first_chunk() -> str:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        async for chunk in stream:
            return chunk.choices[0].text
        raise AssertionError("no chunk")

    gc.disable()
    try:
        assert await asyncio.create_task(first_chunk()) == "a"
        since = time.monotonic()
        await assert_released(server, client, since)
    finally:
        gc.enable()


# -- cancellation and timeouts ----------------------------------------------------


async def test_task_cancel_while_waiting_for_a_chunk_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    got: list[str] = []
    seen = asyncio.Event()

    async def consume() -> None:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        async with stream:
            await read_into(stream, got, seen)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 2.0)
    await asyncio.sleep(0.05)  # now parked in the read for chunk 3
    task.cancel()
    since = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert got == ["a", "b"]
    await assert_released(server, client, since)


async def test_anyio_move_on_after_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    got: list[str] = []
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )

    with anyio.move_on_after(0.2) as scope:
        await read_into(stream, got)
    since = time.monotonic()

    assert scope.cancelled_caught
    assert got == ["a", "b"]
    await assert_released(server, client, since)
    with pytest.raises(StreamConsumedError):
        await stream.__anext__()


async def test_anyio_fail_after_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )

    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.2):
            async with stream:
                async for _chunk in stream:
                    pass
    since = time.monotonic()

    await assert_released(server, client, since)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
async def test_asyncio_timeout_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            async for _chunk in stream:
                pass
    since = time.monotonic()

    await assert_released(server, client, since)


async def test_stream_idle_limit_still_works_after_a_cancel_scope_around_a_step(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    # A caller's own short scope around one step must not be confused with ours.
    server.enqueue(
        FakeResponse.stream(["a", "b"], event_delay=0.3),
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True, timeouts=Timeouts(stream_idle=5.0)
    )
    async with stream:
        first = await stream.__anext__()
        with anyio.move_on_after(0.05) as scope:
            await stream.__anext__()

    assert first.choices[0].text == "a"
    assert scope.cancelled_caught
    assert client.pool_stats().in_use == 0


async def test_cancel_during_the_drain_after_done_still_closes(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    # [DONE], then the body stays open: the stream drains for up to 0.2 s.
    server.enqueue(FakeResponse.stream(["a"], then="hang"))
    got: list[str] = []
    seen = asyncio.Event()

    async def consume() -> None:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        async for chunk in stream:
            got.append(chunk.choices[0].text)
            seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 2.0)
    await asyncio.sleep(0.05)  # inside the drain now
    task.cancel()
    since = time.monotonic()
    try:
        await task
    except asyncio.CancelledError:
        pass

    assert got == ["a"]
    await assert_released(server, client, since)


# -- explicit aclose() ------------------------------------------------------------


async def test_stream_aclose_mid_stream_releases_and_is_idempotent(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    assert (await stream.__anext__()).choices[0].text == "a"

    await stream.aclose()
    since = time.monotonic()
    await stream.aclose()

    await assert_released(server, client, since)
    with pytest.raises(StreamConsumedError):
        await stream.__anext__()


async def test_client_aclose_with_an_open_stream_fails_its_next_step(
    server: FakeOrqServer,
) -> None:
    server.enqueue(hanging_stream())
    client = AsyncOrq(api_key="sk-TEST-SECRET-123", server_url=server.url)
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    assert (await stream.__anext__()).choices[0].text == "a"

    await client.aclose()
    since = time.monotonic()

    with pytest.raises(ClientClosedError):
        await stream.__anext__()
    with pytest.raises(ClientClosedError):
        await stream.__anext__()
    await stream.aclose()
    seen = await server.wait_for_disconnect(timeout=2.0)
    assert seen - since < PROMPT


async def test_client_aclose_while_a_task_awaits_the_next_chunk(
    server: FakeOrqServer,
) -> None:
    server.enqueue(hanging_stream())
    client = AsyncOrq(api_key="sk-TEST-SECRET-123", server_url=server.url)
    got: list[str] = []
    seen = asyncio.Event()

    async def consume() -> None:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        await read_into(stream, got, seen)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 2.0)
    await asyncio.sleep(0.05)
    await client.aclose()

    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(task, 2.0)
    await server.wait_for_disconnect(timeout=2.0)


def silent_stream() -> FakeResponse:
    """Headers and a comment, then nothing: the reader waits for its first chunk."""
    return FakeResponse.events_([b": hello\n\n"], then="hang")


async def test_client_aclose_before_the_first_chunk_does_not_retry(
    server: FakeOrqServer,
) -> None:
    server.enqueue(silent_stream())
    client = AsyncOrq(api_key="sk-TEST-SECRET-123", server_url=server.url)
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    task = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0.1)

    await client.aclose()

    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(task, 2.0)
    await server.wait_for_disconnect(timeout=2.0)
    await asyncio.sleep(0.05)
    assert len(server.requests) == 1
    assert client.is_closed and client.pool_stats().in_use == 0


async def test_stream_aclose_from_another_task_before_the_first_chunk_does_not_retry(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(silent_stream())
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    task = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0.1)

    await stream.aclose()

    with pytest.raises(StreamConsumedError):
        await asyncio.wait_for(task, 2.0)
    await server.wait_for_disconnect(timeout=2.0)
    await asyncio.sleep(0.05)
    assert len(server.requests) == 1
    assert client.pool_stats().in_use == 0


async def test_stream_dropped_before_iterating_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(hanging_stream())
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )

    del stream
    since = time.monotonic()

    await assert_released(server, client, since)


async def test_cancel_while_a_completion_body_is_read_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        FakeResponse.events_(
            [b'{"id": "cmpl-1", '], content_type="application/json", then="hang"
        )
    )

    with pytest.raises(TimeoutError), anyio.fail_after(0.2):
        await client.router.completions.create(model=MODEL, prompt="Hi")
    since = time.monotonic()

    await assert_released(server, client, since)
