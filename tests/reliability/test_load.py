"""Load, pool exhaustion and the leak soak.

The full sizes are marked ``slow`` (``pytest -m slow``); scaled-down versions of
the same code run on every change. Figures are printed (run with ``-s``):

* load: N concurrent streams x M chunks, all complete; client peak RSS per
  stream. The full run puts the server in a subprocess so the figure is the
  client's alone.
* soak: completions and chat streams that end at random (seeded): normal end,
  ``break`` with the reference dropped, task cancel, an exception in the
  consumer, a server abort, an idle timeout. Afterwards the pool is empty, the
  sockets are back to the baseline, no ResourceWarning or "Unclosed" log
  appeared, ``gc.garbage`` is empty and RSS growth is bounded.
"""

from __future__ import annotations

import asyncio
import gc
import random
import re
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from orq_async import (
    AsyncOrq,
    EventStream,
    OrqError,
    PoolLimits,
    PoolTimeoutError,
    StreamConnectionError,
    StreamIdleTimeoutError,
    Timeouts,
)
from orq_async.testing import FakeOrqServer, FakeResponse, RecordedRequest

from ..conftest import API_KEY
from ..helpers import (
    MIB,
    linux_only,
    open_sockets,
    peak_rss,
    peak_rss_reset,
    raise_fd_limit,
    rss,
)
from ..internals import pool_idle

pytestmark = [linux_only, pytest.mark.usefixtures("no_unclosed_logs")]

MODEL = "fake/model"


async def _settle(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate()`` until true or ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


# -- load ------------------------------------------------------------------------------


SERVER_SCRIPT = """
import asyncio, sys
from orq_async.testing import FakeOrqServer
async def main():
    async with FakeOrqServer(backlog=4096, record_requests=False) as server:
        print(server.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


@pytest.fixture
def subprocess_server() -> Iterator[str]:
    """The fake router in its own process (its own core and memory)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert re.match(r"http://127\.0\.0\.1:\d+$", line), line
        yield line
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the server exits when stdin ends
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def _load(url: str, streams: int, chunks: int) -> dict[str, float]:
    raise_fd_limit(2 * streams + 512)
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=url,
        limits=PoolLimits(max_connections=streams),
        timeouts=Timeouts(connect=30, pool=30, first_byte=60, stream_idle=60),
        retries=0,
    ) as client:
        # Warm up (session, connector, imports) so the baseline excludes them.
        warm = await client.router.completions.create(
            model=MODEL, prompt="p", stream=True, max_tokens=2
        )
        async for _ in warm:
            pass
        gc.collect()
        before = rss()
        peak_rss_reset()
        counts: list[int] = []

        async def one() -> None:
            stream = await client.router.completions.create(
                model=MODEL, prompt="p", stream=True, max_tokens=chunks
            )
            n = 0
            async for _ in stream:
                n += 1
            counts.append(n)

        started = time.perf_counter()
        results = await asyncio.gather(
            *(one() for _ in range(streams)), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
        peak = peak_rss()
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, Counter(type(e).__name__ for e in errors)
        assert counts == [chunks] * streams
        assert await _settle(lambda: client.pool_stats().in_use == 0)
        idle = pool_idle(client)
        gc.collect()
        after = rss()
    figures = {
        "streams": streams,
        "chunks": chunks,
        "seconds": elapsed,
        "chunks_per_s": streams * chunks / elapsed,
        "peak_growth_mib": (peak - before) / MIB,
        "per_stream_kib": (peak - before) / streams / 1024,
        "retained_mib": (after - before) / MIB,
        "idle_connections": idle,
    }
    print(
        f"\nload {streams} x {chunks}: {elapsed:.2f} s, "
        f"{figures['chunks_per_s']:,.0f} chunks/s, peak RSS +"
        f"{figures['peak_growth_mib']:.1f} MiB ({figures['per_stream_kib']:.1f} "
        f"KiB/stream), retained +{figures['retained_mib']:.1f} MiB with "
        f"{idle} idle keep-alive connections still pooled"
    )
    return figures


async def test_load_scaled_down_200_streams_x_20_chunks() -> None:
    async with FakeOrqServer(record_requests=False, backlog=1024) as server:
        figures = await _load(server.url, 200, 20)
    # Client and server share this process here: a loose bound per stream pair.
    assert figures["per_stream_kib"] < 512
    assert figures["retained_mib"] < 32


@pytest.mark.slow
async def test_load_2000_concurrent_streams_x_50_chunks(subprocess_server: str) -> None:
    figures = await _load(subprocess_server, 2000, 50)
    # Client only: every stream holds a socket, a response, a parser and a task.
    assert figures["per_stream_kib"] < 128
    assert figures["retained_mib"] < 64


# -- pool exhaustion under load --------------------------------------------------------


async def test_pool_queues_then_fails_fast_when_exhausted() -> None:
    async with FakeOrqServer(default_delay=0.002, backlog=1024) as server:
        # 1) More streams than connections, a generous pool limit: all complete
        #    and the server never sees more than the limit at once.
        async with AsyncOrq(
            api_key=API_KEY,
            server_url=server.url,
            limits=PoolLimits(max_connections=50),
            timeouts=Timeouts(pool=30),
        ) as client:

            async def one() -> int:
                stream = await client.router.completions.create(
                    model=MODEL, prompt="p", stream=True, max_tokens=10
                )
                return len([c async for c in stream])

            assert await asyncio.gather(*(one() for _ in range(300))) == [10] * 300
            assert server.max_active_responses <= 50
            assert client.pool_stats().in_use == 0

        # 2) A short pool limit: the excess fails fast with PoolTimeoutError, is
        #    not retried (never reaches the server), and the rest complete.
        server.clear()
        async with AsyncOrq(
            api_key=API_KEY,
            server_url=server.url,
            limits=PoolLimits(max_connections=20),
            timeouts=Timeouts(pool=0.05),
        ) as client:
            started = time.monotonic()
            results = await asyncio.gather(
                *(one_with(client) for _ in range(100)), return_exceptions=True
            )
            elapsed = time.monotonic() - started
            kinds = Counter(type(r).__name__ for r in results)
            ok = sum(1 for r in results if r == 20)
            assert set(kinds) <= {"int", "PoolTimeoutError"}, kinds
            assert kinds["PoolTimeoutError"] >= 50, kinds
            assert all(
                not r.retryable for r in results if isinstance(r, PoolTimeoutError)
            )
            assert server.request_count == ok  # timed-out calls sent nothing
            assert client.pool_stats().in_use == 0
            assert elapsed < 5
            # The pool is usable again at once.
            assert await one_with(client) == 20


async def one_with(client: AsyncOrq) -> int:
    stream = await client.router.completions.create(
        model=MODEL, prompt="p", stream=True, max_tokens=20
    )
    return len([c async for c in stream])


# -- leak soak -------------------------------------------------------------------------

ENDINGS = ("normal", "break", "cancel", "exception", "abort", "idle")
CHUNKS = 8
IDLE_ENDING_TIMEOUTS = Timeouts(stream_idle=0.25)


class ConsumerError(Exception):
    pass


def _respond(request: RecordedRequest) -> FakeResponse | None:
    chat = request.path.endswith("/chat/completions")
    ending = request.json["messages"][0]["content"] if chat else request.json["prompt"]
    texts = [f"t{i}" for i in range(CHUNKS)]
    # A chat stream: a role chunk, the texts, a finish chunk (CHUNKS + 2 in all).
    make = FakeResponse.chat_stream if chat else FakeResponse.stream
    if ending == "abort":
        return make(
            texts[:2], finish_reason=None, done=False, then="abort", event_delay=0.001
        )
    if ending == "idle":
        return make(texts[:1], finish_reason=None, done=False, then="hang")
    return make(texts, event_delay=0.001)


async def _one_ending(client: AsyncOrq, ending: str, chat: bool = False) -> str:
    # Only the stream that is meant to stall gets the short idle limit: on a loaded
    # machine the others may legitimately wait longer than that between chunks.
    timeouts = IDLE_ENDING_TIMEOUTS if ending == "idle" else None
    stream: EventStream[Any]
    if chat:
        stream = await client.router.chat.completions.create(
            messages=[{"role": "user", "content": ending}],
            model=MODEL,
            stream=True,
            timeouts=timeouts,
        )
    else:
        stream = await client.router.completions.create(
            model=MODEL, prompt=ending, stream=True, timeouts=timeouts
        )
    if ending == "normal":
        got = [c async for c in stream]
        assert len(got) == (CHUNKS + 2 if chat else CHUNKS)
    elif ending == "break":
        async for _ in stream:
            break
        del stream  # no async with, no aclose: dropping it must release
    elif ending == "cancel":
        first = asyncio.Event()

        async def consume() -> None:
            async for _ in stream:
                first.set()

        task = asyncio.ensure_future(consume())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    elif ending == "exception":
        with pytest.raises(ConsumerError):
            async for _ in stream:
                raise ConsumerError
    elif ending == "abort":
        with pytest.raises(StreamConnectionError):
            async for _ in stream:
                pass
    elif ending == "idle":
        with pytest.raises(StreamIdleTimeoutError):
            async for _ in stream:
                pass
    return ending


async def _soak(total: int, concurrency: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    endings = [(rng.choice(ENDINGS), rng.random() < 0.5) for _ in range(total)]
    raise_fd_limit(4 * concurrency + 512)
    gc.collect()
    sockets_before = open_sockets()
    async with FakeOrqServer(
        api_key=API_KEY, responder=_respond, record_requests=False, backlog=1024
    ) as server:
        sockets_with_server = open_sockets()
        client = AsyncOrq(
            api_key=API_KEY,
            server_url=server.url,
            limits=PoolLimits(max_connections=concurrency),
            timeouts=Timeouts(stream_idle=30),
            retries=0,
        )
        gate = asyncio.Semaphore(concurrency)
        failures: list[BaseException] = []
        done: Counter[str] = Counter()

        async def run(ending: tuple[str, bool]) -> None:
            async with gate:
                try:
                    done[await _one_ending(client, *ending)] += 1
                except (OrqError, AssertionError) as exc:  # pragma: no cover
                    failures.append(exc)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warm = min(200, total // 5)
            await asyncio.gather(*(run(e) for e in endings[:warm]))
            gc.collect()
            rss_before = rss()
            started = time.perf_counter()
            await asyncio.gather(*(run(e) for e in endings[warm:]))
            elapsed = time.perf_counter() - started
            assert not failures, failures[:3]
            assert await _settle(lambda: client.pool_stats().in_use == 0)
            idle_conns = pool_idle(client)
            assert idle_conns <= concurrency
            gc.collect()
            rss_after = rss()
            await client.aclose()
            sockets_back = await _settle(
                lambda: open_sockets() <= sockets_with_server, timeout=5.0
            )
            gc.collect()
        resource_warnings = [
            w for w in caught if issubclass(w.category, ResourceWarning)
        ]
        other = [w for w in caught if not issubclass(w.category, ResourceWarning)]
        assert sum(done.values()) == total
        assert server.request_count == total
    assert not resource_warnings, [str(w.message) for w in resource_warnings[:3]]
    assert not other, [str(w.message) for w in other[:3]]
    assert sockets_back, (open_sockets(), sockets_with_server)
    assert await _settle(lambda: open_sockets() <= sockets_before)
    assert gc.garbage == []
    growth = (rss_after - rss_before) / MIB
    print(
        f"\nsoak {total} streams (seed {seed}, {concurrency} at a time): "
        f"{elapsed:.1f} s, endings {dict(sorted(done.items()))}, RSS growth "
        f"{growth:+.1f} MiB, idle keep-alive connections before close {idle_conns}"
    )
    return {"growth_mib": growth, "seconds": elapsed}


async def test_leak_soak_scaled_down_600_streams() -> None:
    figures = await _soak(600, concurrency=50, seed=7)
    assert figures["growth_mib"] < 20


@pytest.mark.slow
async def test_leak_soak_10000_streams() -> None:
    figures = await _soak(10_000, concurrency=100, seed=20240607)
    assert figures["growth_mib"] < 20
