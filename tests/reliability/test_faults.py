"""Stream faults at the edges, against the fake router on loopback (fast: runs on
every change).

The common stream faults (termination, payload, idle timeouts, release, deadlines,
errors) are in tests/integration/test_streaming.py and its neighbours, the parser
in tests/unit/test_sse*.py. Here:

* a one-byte drip (1 byte / 5 ms), and its idle-limit semantics;
* 10,000 events in one read, linear in the event count;
* oversized lines (16 and 64 MiB) with the peak-RSS bound;
* a 4 MiB event in 1 KiB reads, end to end;
* every mid-stream fault, for completions and chat streams: its typed error,
  request id, no retry, the connection released;
* on_chunk timing against the server's schedule;
* hostile HTTP framing (huge headers, non-HTTP bytes, broken chunk sizes) and a
  gzip-encoded stream that must still arrive event by event.
"""

from __future__ import annotations

import asyncio
import gc
import time
import zlib
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import msgspec
import pytest

from orq_async import (
    AsyncOrq,
    ChunkEvent,
    EventTooLargeError,
    Hooks,
    IncompleteStreamError,
    OrqError,
    PoolLimits,
    StreamAPIError,
    StreamConnectionError,
    StreamDecodeError,
    StreamIdleTimeoutError,
    Timeouts,
)
from orq_async.testing import FakeOrqServer, FakeResponse, chat_chunk, sse_frame

from ..conftest import API_KEY
from ..helpers import (
    MIB,
    frame,
    linux_only,
    peak_rss,
    peak_rss_reset,
    rss,
    texts_of,
)

MODEL = "openai/gpt-4o-mini"
DONE = sse_frame("[DONE]")


# -- a one-byte drip -------------------------------------------------------------------


async def test_one_byte_drip_delivers_every_chunk_without_busy_waiting(
    server: FakeOrqServer,
) -> None:
    body = frame("a") + frame("b", "stop") + DONE
    server.enqueue(FakeResponse.drip(body, piece_size=1, interval=0.005))
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        timeouts=Timeouts(stream_idle=5.0),
    ) as client:
        wall, cpu = time.monotonic(), time.process_time()
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        assert await texts_of(stream) == ["a", "b"]
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu

        assert stream.metrics.bytes == len(body)
        assert len(server.requests) == 1
        # ~len(body) reads of one byte: the client sleeps between them (server and
        # client share this process, so this bounds both together).
        assert wall >= len(body) * 0.005 * 0.9
        assert cpu < 0.5 * wall, f"{cpu=:.2f}s of {wall=:.2f}s: busy waiting?"
        assert client.pool_stats().in_use == 0


async def test_drip_slower_per_event_than_the_idle_limit_is_not_idle(
    server: FakeOrqServer,
) -> None:
    # Each event takes ~1 s to drip in, bytes arrive every 5 ms, the idle limit
    # is 0.4 s: data keeps arriving well within the limit, so no timeout.
    body = frame("a") + frame("b", "stop") + DONE
    server.enqueue(FakeResponse.drip(body, piece_size=1, interval=0.005))
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        timeouts=Timeouts(stream_idle=0.4),
        retries=0,
    ) as client:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        assert await texts_of(stream) == ["a", "b"]


# -- many events in one read -----------------------------------------------------------


async def _one_read_stream_seconds(
    client: AsyncOrq, server: FakeOrqServer, n: int
) -> float:
    """Best of 3: seconds to consume ``n`` chunk events that arrive in one write."""
    piece = b"".join(frame(f"t{i}") for i in range(n - 1)) + frame("end", "stop") + DONE
    best = float("inf")
    for _ in range(3):
        server.enqueue(FakeResponse.events_([piece]))
        started = time.perf_counter()
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        count = 0
        async for _chunk in stream:
            count += 1
        best = min(best, time.perf_counter() - started)
        assert count == n
    return best


async def test_ten_thousand_events_in_one_read_are_all_delivered_in_linear_time(
    server: FakeOrqServer,
) -> None:
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as client:
        small = await _one_read_stream_seconds(client, server, 1_000)
        large = await _one_read_stream_seconds(client, server, 10_000)
        per_chunk_small = small / 1_000
        per_chunk_large = large / 10_000
        print(
            f"\n10k events in one read: {large * 1000:.1f} ms "
            f"({per_chunk_large * 1e6:.2f} µs/chunk end to end, server included); "
            f"1k: {per_chunk_small * 1e6:.2f} µs/chunk"
        )
        # Linear: the per-event cost of one 10k-event read stays within a small
        # factor of a 1k-event read's (quadratic buffering would make it ~10x; the
        # margin absorbs a loaded machine's jitter).
        assert per_chunk_large <= 4 * per_chunk_small


# -- an oversized line: memory bounded by the limit ------------------------------------


@linux_only
@pytest.mark.parametrize(
    ("line_size", "limit"),
    [
        pytest.param(16 * MIB, 1 * MIB, id="16MiB-line-1MiB-limit"),
        pytest.param(64 * MIB, None, id="64MiB-line-default-8MiB-limit"),
    ],
)
async def test_oversized_line_raises_with_memory_bounded_by_the_limit(
    server: FakeOrqServer, line_size: int, limit: int | None
) -> None:
    # One "data: xxxx..." line with no line end, made lazily by the server (it
    # never holds it whole), then the body stays open.
    server.enqueue(FakeResponse.flood(line_size, then="hang"))
    options: dict[str, Any] = {} if limit is None else {"max_event_size": limit}
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, retries=0, **options
    ) as client:
        effective = client.max_event_size
        gc.collect()
        if not peak_rss_reset():
            pytest.skip("cannot reset the peak-RSS mark here")
        before = rss()
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        with pytest.raises(EventTooLargeError) as info:
            await texts_of(stream)
        growth = peak_rss() - before
        print(
            f"\n{line_size // MIB} MiB line, limit {effective // MIB} MiB: "
            f"peak RSS growth {growth / MIB:.1f} MiB"
        )
        assert info.value.request_id is None or isinstance(info.value.request_id, str)
        # The client stopped near the limit: it did not buffer the whole line.
        assert growth < 3 * effective + 16 * MIB < line_size + 16 * MIB
        await server.wait_for_disconnect(timeout=2.0)
        assert client.pool_stats().in_use == 0
        assert len(server.requests) == 1


# -- a large valid event in small reads ------------------------------------------------


async def test_four_mib_event_in_1kib_reads_arrives_intact(
    server: FakeOrqServer,
) -> None:
    text = "x" * (4 * MIB)
    body = frame(text, "stop") + DONE
    server.enqueue(FakeResponse.drip(body, piece_size=1024, interval=0.0))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as client:
        started = time.perf_counter()
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        got = await texts_of(stream)
        elapsed = time.perf_counter() - started
    assert got == [text]
    # ~4100 HTTP chunks through both ends of one process; quadratic buffering of
    # the event would take minutes.
    assert elapsed < 5.0


# -- every mid-stream fault: typed, never retried, released ----------------------------

RID = "req-fault-1"
BAD_JSON = b"data: {not json\n\n"
IN_BAND = sse_frame({"error": {"message": "upstream died", "type": "server_error"}})


def _fault(kind: str, endpoint: str = "completions") -> FakeResponse:
    head = {"x-request-id": RID}
    first = frame("a") if endpoint == "completions" else sse_frame(chat_chunk("a"))
    if kind == "abort":
        return FakeResponse.events_(
            [first], headers=head, event_delay=0.02, then="abort"
        )
    if kind == "idle":
        return FakeResponse.events_([first], headers=head, then="hang")
    if kind == "idle-keepalive":
        return FakeResponse.events_(
            [first], headers=head, event_delay=0.05, then="keepalive"
        )
    if kind == "malformed":
        return FakeResponse.events_([first, BAD_JSON], headers=head, then="hang")
    if kind == "in-band":
        return FakeResponse.events_([first, IN_BAND], headers=head, then="hang")
    if kind == "truncated":
        return FakeResponse.events_([first], headers=head, then="end")
    if kind == "too-large":
        return FakeResponse(
            headers=head,
            content_type="text/event-stream",
            events=[first],
            source=FakeResponse.flood(256 * 1024).source,
            then="hang",
        )
    raise AssertionError(kind)


EXPECTED: dict[str, type[OrqError]] = {
    "abort": StreamConnectionError,
    "idle": StreamIdleTimeoutError,
    "idle-keepalive": StreamIdleTimeoutError,
    "malformed": StreamDecodeError,
    "in-band": StreamAPIError,
    "truncated": IncompleteStreamError,
    "too-large": EventTooLargeError,
}


async def _texts(stream: AsyncIterable[Any], got: list[str]) -> None:
    """Append each chunk's text (a completion's or a chat delta's) as it comes."""
    async for chunk in stream:
        choice = chunk.choices[0]
        got.append(choice.delta.content if hasattr(choice, "delta") else choice.text)


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
@pytest.mark.parametrize(
    "kind",
    list(EXPECTED),
)
async def test_mid_stream_fault_is_typed_carries_the_request_id_and_is_never_retried(
    server: FakeOrqServer, kind: str, endpoint: str
) -> None:
    if endpoint == "chat":
        server.enqueue_chat(_fault(kind, endpoint), FakeResponse.chat_stream(["DUP"]))
    else:
        server.enqueue(_fault(kind), FakeResponse.stream(["DUPLICATE"]))
    retried: list[object] = []

    async def on_retry(event: object) -> None:
        retried.append(event)

    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        timeouts=Timeouts(stream_idle=0.3),
        max_event_size=64 * 1024,
        hooks=Hooks(on_retry=on_retry),
    ) as client:  # default retries: on
        stream: AsyncIterable[Any] = (
            await client.router.chat.completions.create(
                messages=[{"role": "user", "content": "Hi"}], model=MODEL, stream=True
            )
            if endpoint == "chat"
            else await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=True
            )
        )
        assert stream.request_id == RID  # type: ignore[attr-defined]
        got: list[str] = []
        with pytest.raises(OrqError) as info:
            await _texts(stream, got)

        error = info.value
        assert type(error) is EXPECTED[kind], repr(error)
        assert error.request_id == RID
        assert error.retryable is False
        if hasattr(error, "chunks_delivered"):
            assert error.chunks_delivered == 1
        if endpoint == "chat" and isinstance(error, IncompleteStreamError):
            assert error.partial_completion is not None
            assert error.partial_completion.choices[0].message.content == "a"
        # The caller saw the first chunk once and nothing of a second attempt.
        assert got == ["a"]
        assert retried == []
        assert len(server.requests) == 1
        assert client.pool_stats().in_use == 0
        if kind not in ("abort", "truncated"):
            await server.wait_for_disconnect(timeout=2.0)


async def test_truncated_streams_do_not_exhaust_the_pool(server: FakeOrqServer) -> None:
    # Each stream ends cleanly without [DONE] after one chunk; with 2 slots, the
    # third call must still get a connection.
    for _ in range(3):
        server.enqueue(FakeResponse.events_([frame("a")], then="end"))
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        limits=PoolLimits(max_connections=2),
        timeouts=Timeouts(pool=0.5),
    ) as client:
        for _ in range(3):
            stream = await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=True
            )
            with pytest.raises(IncompleteStreamError):
                await texts_of(stream)
        assert client.pool_stats().in_use == 0


# -- on_chunk timing against the server's schedule -------------------------------------


async def test_on_chunk_timing_matches_the_server_schedule(
    server: FakeOrqServer,
) -> None:
    gap = 0.1
    events: list[ChunkEvent[Any]] = []

    async def on_chunk(event: ChunkEvent[Any]) -> None:
        events.append(event)

    server.enqueue(
        FakeResponse.stream(
            [f"t{i}" for i in range(6)],
            event_delay=gap,
            headers={"x-request-id": "t-1"},
        )
    )
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, hooks=Hooks(on_chunk=on_chunk)
    ) as client:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        await texts_of(stream)
        metrics = stream.metrics

    assert [e.index for e in events] == list(range(6))
    assert all(e.request_id == "t-1" for e in events)
    gaps = [b.elapsed - a.elapsed for a, b in zip(events, events[1:], strict=False)]
    assert all(abs(g - gap) <= 0.02 for g in gaps), gaps
    assert metrics.time_to_first_chunk is not None
    assert abs(events[0].elapsed - metrics.time_to_first_chunk) <= 0.005
    assert metrics.chunks == 6


# -- hostile HTTP framing --------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))


def _raw_server(reply: bytes, *, then_hang: bool = False) -> Handler:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await _read_request(reader)
            writer.write(reply)
            await writer.drain()
            if then_hang:
                await reader.read()  # until the client goes away
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return handle


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


HOSTILE = {
    "huge-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "many-headers": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
    + b"\r\n",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "bad-status": b"HTTP/1.1 abc OK\r\n\r\n",
    "bad-chunk-size": SSE_HEAD + _chunked(frame("a")) + b"zz\r\nxx\r\n",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
    "bad-gzip": SSE_HEAD.replace(
        b"Transfer-Encoding", b"Content-Encoding: gzip\r\nTransfer-Encoding"
    )
    + _chunked(b"this is not gzip at all")
    + b"0\r\n\r\n",
}


@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_hostile_http_framing_gives_only_typed_errors(
    case: str, stream: bool
) -> None:
    srv = await asyncio.start_server(
        _raw_server(HOSTILE[case], then_hang=True), "127.0.0.1", 0
    )
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    try:
        async with AsyncOrq(
            api_key=API_KEY,
            server_url=url,
            retries=0,
            timeouts=Timeouts(first_byte=3, stream_idle=1),
        ) as client:
            with pytest.raises(OrqError):
                result = await client.router.completions.create(
                    model=MODEL, prompt="Hi", stream=stream
                )
                if stream:
                    await texts_of(result)  # type: ignore[arg-type]
            assert client.pool_stats().in_use == 0
    finally:
        srv.close()
        await srv.wait_closed()


async def test_gzip_encoded_stream_is_decoded_event_by_event() -> None:
    # A proxy that gzips text/event-stream and flushes per event: the first chunk
    # must reach the caller while the server still holds the second back.
    release = asyncio.Event()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await _read_request(reader)
            gz = zlib.compressobj(wbits=31)
            writer.write(
                SSE_HEAD.replace(
                    b"Transfer-Encoding", b"Content-Encoding: gzip\r\nTransfer-Encoding"
                )
            )
            writer.write(
                _chunked(gz.compress(frame("a")) + gz.flush(zlib.Z_SYNC_FLUSH))
            )
            await writer.drain()
            await release.wait()
            tail = gz.compress(frame("b", "stop") + DONE) + gz.flush()
            writer.write(_chunked(tail) + b"0\r\n\r\n")
            await writer.drain()
            await reader.read()
        except ConnectionError:
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    try:
        async with AsyncOrq(api_key=API_KEY, server_url=url, retries=0) as client:
            stream = await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=True
            )
            first = await asyncio.wait_for(stream.__anext__(), 2.0)
            assert first.choices[0].text == "a"
            release.set()
            assert await texts_of(stream) == ["b"]
    finally:
        srv.close()
        await srv.wait_closed()


def test_fault_frames_are_what_the_tests_think() -> None:
    # Guards the fixtures above: the malformed frame really is invalid JSON and
    # the in-band frame really is an error envelope.
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(BAD_JSON[len(b"data: ") : -2])
    assert b'"error"' in IN_BAND
