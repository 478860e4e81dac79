"""Streaming completions end to end against the fake router on loopback.

Covers stream termination, payload faults and idle timeouts for
``create(..., stream=True)``: every test talks to a real
aiohttp server (:class:`orq_async.testing.FakeOrqServer`), nothing is mocked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import pytest

import orq_async
from orq_async import (
    APIConnectionError,
    AsyncOrq,
    AuthenticationError,
    EventTooLargeError,
    IncompleteStreamError,
    InternalServerError,
    OrqError,
    SSEProtocolError,
    StreamAPIError,
    StreamConnectionError,
    StreamDecodeError,
    StreamIdleTimeoutError,
    UnexpectedContentTypeError,
)
from orq_async.testing import FakeOrqServer, FakeResponse, completion_chunk, sse_frame
from tests.conftest import API_KEY

from ..helpers import frame, read_into

MODEL = "openai/gpt-4o-mini"
DONE = sse_frame("[DONE]")
BOM = b"\xef\xbb\xbf"


def in_band_error(
    message: str = "provider exploded", type: str = "server_error", code: str = "502"
) -> Mapping[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


async def collect(client: AsyncOrq, **kwargs: Any) -> list[str]:
    """The texts of every chunk of one stream, read to the end."""
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True, **kwargs
    )
    async with stream:
        return [chunk.choices[0].text async for chunk in stream]


def stream_of(pieces: Iterable[bytes], **kwargs: Any) -> FakeResponse:
    return FakeResponse.events_(list(pieces), **kwargs)


# -- the happy path ---------------------------------------------------------------


async def test_a_basic_stream_yields_the_generated_chunks(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True, max_tokens=5
    )
    texts: list[str] = []
    finish = []
    async with stream:
        async for chunk in stream:
            texts.append(chunk.choices[0].text)
            finish.append(chunk.choices[0].finish_reason)

    assert texts == ["This", " is", " a", " fake", " completion"]
    assert finish == [None, None, None, None, "length"]
    assert stream.chunks_received == 5
    assert stream.partial_text == "This is a fake completion"
    assert server.last_request.json["stream"] is True
    assert server.last_request.headers["Accept"] == "text/event-stream"


async def test_create_returns_once_the_headers_arrive(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    # Headers plus a comment at once, the first chunk 0.5 s later.
    server.enqueue(
        stream_of([b": open\n\n", frame("late", "stop") + DONE], event_delay=0.5)
    )
    started = time.monotonic()
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    returned = time.monotonic() - started
    async with stream:
        texts = [chunk.choices[0].text async for chunk in stream]

    assert returned < 0.4
    assert time.monotonic() - started >= 0.45
    assert texts == ["late"]


async def test_http_401_raises_at_create(server: FakeOrqServer) -> None:
    async with AsyncOrq(api_key="sk-wrong", server_url=server.url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=True
            )

    assert info.value.status_code == 401
    assert info.value.message == "Invalid API key"
    assert len(server.requests) == 1


async def test_http_500_raises_at_create_with_the_body(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        FakeResponse.error(
            500, "upstream down", type="server_error", headers={"x-request-id": "req-5"}
        )
    )
    with pytest.raises(InternalServerError) as info:
        await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True, retries=0
        )

    assert info.value.status_code == 500
    assert info.value.message == "upstream down"
    assert "upstream down" in info.value.body
    assert info.value.request_id == "req-5"


async def test_http_error_body_with_invalid_utf8_raises_the_typed_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.raw(b'{"error": {"message": "bad \xff"}}', status=400))

    with pytest.raises(orq_async.BadRequestError) as info:
        await client.router.completions.create(model=MODEL, prompt="Hi", stream=True)

    assert info.value.status_code == 400


async def test_stream_headers_usage_and_text(
    server: FakeOrqServer, client: AsyncOrq
) -> None:
    stream = await client.router.completions.create(
        model="m", prompt="p", max_tokens=3, stream=True
    )
    assert stream.headers["X-Request-Id"].startswith("req-")
    assert await stream.text() == "This is a"
    assert stream.usage is not None and stream.usage.completion_tokens == 3


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
async def test_every_line_end_streams_the_same(
    server: FakeOrqServer, client: AsyncOrq, eol: bytes
) -> None:
    server.enqueue(FakeResponse.stream(["x", "y"], eol=eol))
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    assert await stream.text() == "xy"


async def test_n_greater_than_one_tracks_choices_by_index(
    server: FakeOrqServer, client: AsyncOrq
) -> None:
    server.enqueue(
        FakeResponse.events_(
            [
                frame("A", index=0),
                frame("B", index=1),
                frame("a", "stop", index=0),
                frame("b", index=1),
            ]
        )
    )
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    with pytest.raises(IncompleteStreamError) as info:
        async with stream:
            assert [t async for t in stream.aiter_text()] == ["A", "a"]
    assert info.value.partial_text == "Aa"  # choice 0 only

    server.enqueue(
        FakeResponse.events_(
            [frame("A", "stop", index=0), frame("B", "length", index=1)]
        )
    )
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    assert await stream.text() == "A"  # every choice finished: a normal end


# -- [DONE] ---------------------------------------------------------------------


async def test_done_ends_iteration_and_trailing_data_is_ignored(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        stream_of(
            [frame("a"), frame("b"), DONE + frame("after") + b"data: {broken\n\n"]
        )
    )
    assert await collect(client) == ["a", "b"]


async def test_events_after_done_in_the_same_read_are_never_delivered(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    # One write: the chunks, [DONE] and more chunks arrive in one read, so the
    # events after [DONE] are parsed and waiting when iteration ends.
    server.enqueue(
        stream_of([frame("a") + frame("b") + DONE + frame("after") + frame("more")])
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    texts = [chunk.choices[0].text async for chunk in stream]
    for _ in range(2):
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()

    assert texts == ["a", "b"]
    assert stream.partial_text == "ab"
    assert stream.chunks_received == 2


async def test_body_left_open_after_done_is_closed_within_the_drain_bound(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.stream(["a", "b"], then="hang"))
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    texts = [chunk.choices[0].text async for chunk in stream]
    started = time.monotonic()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()  # already ended: returns at once

    assert texts == ["a", "b"]
    assert time.monotonic() - started < 0.1
    await server.wait_for_disconnect(timeout=1.0)


async def test_done_with_a_hanging_body_returns_within_half_a_second(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.stream(["a"], then="hang"))
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    assert (await stream.__anext__()).choices[0].text == "a"
    started = time.monotonic()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()

    assert time.monotonic() - started < 0.5
    await server.wait_for_disconnect(timeout=1.0)


# -- chunk tolerance ---------------------------------------------------------------


async def test_chunks_tolerate_null_and_unknown_finish_reason_and_extra_fields(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        stream_of(
            [
                frame("a", None, brand_new_field={"nested": [1, 2]}),
                frame("b", "content_filter_v9", provider="x"),
                DONE,
            ]
        )
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    async with stream:
        chunks = [chunk async for chunk in stream]

    assert [c.choices[0].finish_reason for c in chunks] == [None, "content_filter_v9"]
    assert [c.choices[0].text for c in chunks] == ["a", "b"]


# -- in-band errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "error_frame",
    [
        pytest.param(sse_frame(in_band_error()), id="data-error-object"),
        pytest.param(sse_frame(in_band_error(), event="error"), id="event-error"),
    ],
)
async def test_in_band_error_after_a_chunk_raises_stream_api_error(
    client: AsyncOrq, server: FakeOrqServer, error_frame: bytes
) -> None:
    server.enqueue(
        stream_of([frame("a"), error_frame], headers={"x-request-id": "req-42"})
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    texts: list[str] = []
    with pytest.raises(StreamAPIError) as info:
        async with stream:
            await read_into(stream, texts)

    error = info.value
    assert texts == ["a"]
    assert error.message == "provider exploded"
    assert error.type == "server_error"
    assert error.code == "502"
    assert error.request_id == "req-42"
    assert error.retryable is False
    assert error.chunks_delivered == 1
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "error_frame",
    [
        pytest.param(sse_frame(in_band_error()), id="data-error-object"),
        pytest.param(sse_frame(in_band_error(), event="error"), id="event-error"),
    ],
)
async def test_in_band_error_before_any_chunk_is_retried_with_the_same_key(
    client: AsyncOrq, server: FakeOrqServer, error_frame: bytes
) -> None:
    server.enqueue(stream_of([error_frame]), FakeResponse.stream(["ok"]))

    assert await collect(client) == ["ok"]
    assert len(server.requests) == 2
    keys = {r.headers["Idempotency-Key"] for r in server.requests}
    assert len(keys) == 1
    assert [r.headers["X-Orq-Attempt"] for r in server.requests] == ["1", "2"]


async def test_in_band_error_before_any_chunk_without_retries_raises(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(stream_of([sse_frame(in_band_error())]), FakeResponse.stream(["ok"]))

    with pytest.raises(StreamAPIError) as info:
        await collect(client, retries=0)

    assert info.value.retryable is True
    assert info.value.chunks_delivered == 0
    assert len(server.requests) == 1


async def test_chunks_without_choices_between_others_of_the_same_read(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    # One write: a usage-only chunk (choices: []) among ordinary ones, as with
    # OpenAI's stream_options.include_usage, and one for choice 1.
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    server.enqueue(
        stream_of(
            [
                frame("a")
                + frame("b")
                + frame("", choices=[])
                + sse_frame(completion_chunk("x", index=1))
                + frame("c", "stop")
                + frame("", choices=[], usage=usage)
                + DONE
            ]
        )
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    shapes = [[(c.index, c.text) for c in chunk.choices] async for chunk in stream]

    assert shapes == [[(0, "a")], [(0, "b")], [], [(1, "x")], [(0, "c")], []]
    assert stream.chunks_received == 6
    assert stream.partial_text == "abc"
    assert stream.usage is not None
    assert stream.usage.total_tokens == 5


@pytest.mark.parametrize(
    "payload",
    [b'{"error":"rate limited"}', b'{"error":{"message":5}}'],
)
async def test_loose_in_band_error_shapes_are_stream_api_errors(
    server: FakeOrqServer, client: AsyncOrq, payload: bytes
) -> None:
    server.enqueue(
        FakeResponse.events_([sse_frame(completion_chunk("a")), sse_frame(payload)])
    )
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    with pytest.raises(StreamAPIError):
        async with stream:
            async for _ in stream:
                pass


# -- payload faults ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(b"data: {broken\n\n", StreamDecodeError, id="undecodable"),
        pytest.param(sse_frame(in_band_error()), StreamAPIError, id="in-band-error"),
    ],
)
async def test_fault_behind_chunks_of_the_same_read_comes_after_them(
    client: AsyncOrq,
    server: FakeOrqServer,
    fault: bytes,
    expected: type[OrqError],
) -> None:
    # One write: the first chunk, two more, a fault, more chunks. The chunks
    # before the fault are delivered, then the fault, and nothing after it.
    server.enqueue(
        stream_of([frame("a") + frame("b") + frame("c") + fault + frame("d") + DONE])
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    with pytest.raises(expected) as info:
        await stream.text()

    assert stream.partial_text == "abc"
    assert stream.chunks_received == 3
    assert info.value.retryable is False
    with pytest.raises(orq_async.StreamConsumedError):
        await stream.__anext__()


async def test_malformed_json_chunk_raises_stream_decode_error_with_an_excerpt(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    bad = b'{"id": "x", "choices": [{"text": "unterminated' + b"z" * 5000
    server.enqueue(stream_of([frame("a"), b"data: " + bad + b"\n\n", DONE]))
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    texts: list[str] = []
    with pytest.raises(StreamDecodeError) as info:
        async with stream:
            await read_into(stream, texts)

    assert texts == ["a"]
    assert not isinstance(info.value, msgspec.DecodeError)
    assert info.value.__cause__ is None or not isinstance(
        info.value.__cause__, msgspec.DecodeError
    )
    assert "unterminated" in str(info.value)
    assert len(str(info.value)) < 600
    assert info.value.event_index == 1


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body>502 Bad Gateway</body></html>"),
        ("text/plain", b'{"id": "x", "choices": []}'),
    ],
)
async def test_wrong_content_type_raises_unexpected_content_type(
    client: AsyncOrq, server: FakeOrqServer, content_type: str, body: bytes
) -> None:
    server.enqueue(FakeResponse.raw(body, content_type=content_type))

    with pytest.raises(UnexpectedContentTypeError) as info:
        await client.router.completions.create(model=MODEL, prompt="Hi", stream=True)

    assert info.value.status_code == 200
    assert info.value.content_type == content_type
    assert len(server.requests) == 1


async def test_wrong_content_type_error_carries_a_body_excerpt(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        FakeResponse.raw(b"<html>502 Bad Gateway</html>", content_type="text/html")
    )

    with pytest.raises(UnexpectedContentTypeError) as info:
        await client.router.completions.create(model=MODEL, prompt="Hi", stream=True)

    assert "502 Bad Gateway" in info.value.body_excerpt


async def test_error_event_with_invalid_utf8_is_a_stream_api_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    bad = b'{"error": {"message": "bad \xff", "type": "server_error"}}'
    server.enqueue(stream_of([frame("a"), b"event: error\ndata: " + bad + b"\n\n"]))
    texts: list[str] = []

    with pytest.raises(StreamAPIError) as info:
        await read_into(
            await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=True
            ),
            texts,
        )

    assert texts == ["a"]
    assert "bad" in info.value.message


async def test_invalid_utf8_in_a_chunk_is_a_typed_decode_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    bad = msgspec.json.encode(completion_chunk("XX")).replace(b"XX", b"\xff\xfe")
    server.enqueue(stream_of([frame("a"), b"data: " + bad + b"\n\n", DONE]))
    texts: list[str] = []

    with pytest.raises(StreamDecodeError) as info:
        await read_into(
            await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=True
            ),
            texts,
        )

    assert texts == ["a"]
    assert not isinstance(info.value, UnicodeDecodeError)
    assert info.value.raw == bad


async def test_keep_alive_shapes_deliver_exactly_the_real_chunks(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        stream_of(
            [
                b": ping\n\n",
                frame("a"),
                b"event: ping\n\n",
                b"retry: 1000\n\n",
                frame("b"),
                b"id: 5\n\n",
                b"\n\n\n\n",
                b": ping\n",
                frame("c", "stop"),
                b"\n\n",
                DONE,
            ],
            event_delay=0.005,
        )
    )
    assert await collect(client) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([BOM + frame("a") + frame("b", "stop") + DONE], id="bom-whole"),
        pytest.param(
            [b"\xef\xbb", b"\xbf" + frame("a"), frame("b", "stop"), DONE],
            id="bom-split",
        ),
        pytest.param(
            [(frame("a") + frame("b", "stop") + DONE).replace(b"\n", b"\r")],
            id="cr-only",
        ),
        pytest.param(
            [(frame("a") + frame("b", "stop") + DONE).replace(b"\n", b"\r\n")],
            id="crlf",
        ),
        pytest.param(
            [
                frame("a").replace(b"\n", b"\r\n")[:-1],
                b"\n" + frame("b", "stop").replace(b"\n", b"\r"),
                b"\n" + DONE,
            ],
            id="crlf-split-and-mixed",
        ),
    ],
)
async def test_bom_and_line_ends_deliver_every_chunk(
    client: AsyncOrq, server: FakeOrqServer, pieces: list[bytes]
) -> None:
    server.enqueue(stream_of(pieces, event_delay=0.01))
    assert await collect(client) == ["a", "b"]


async def test_line_separator_inside_json_text_is_delivered_intact(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    text = "one\u2028two\u2029three\x85four\x0bfive\x0csix"
    raw = msgspec.json.encode(completion_chunk(text, finish_reason="stop"))
    assert "\u2028".encode() in raw  # unescaped on the wire
    server.enqueue(stream_of([b"data: " + raw + b"\n\n", DONE]))

    assert await collect(client) == [text]


# -- termination faults ------------------------------------------------------------


async def test_tcp_abort_mid_stream_raises_stream_connection_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        FakeResponse.stream(
            ["a", "b"], finish_reason=None, done=False, then="abort", event_delay=0.01
        )
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    texts: list[str] = []
    with pytest.raises(APIConnectionError) as info:
        async with stream:
            await read_into(stream, texts)

    assert type(info.value) is StreamConnectionError
    assert texts == ["a", "b"]
    assert info.value.retryable is False
    assert info.value.chunks_delivered == 2
    assert info.value.__cause__ is not None  # the aiohttp error is kept as the cause
    assert len(server.requests) == 1


async def test_clean_close_without_done_raises_incomplete_after_both_chunks(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        FakeResponse.stream(
            ["Hello", " wor"],
            finish_reason=None,
            done=False,
            headers={"x-request-id": "r1"},
        )
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True
    )
    texts: list[str] = []
    with pytest.raises(IncompleteStreamError) as info:
        async with stream:
            await read_into(stream, texts)

    assert texts == ["Hello", " wor"]
    assert info.value.chunks_received == 2
    assert info.value.partial_text == "Hello wor"
    assert info.value.request_id == "r1"
    assert info.value.retryable is False
    assert len(server.requests) == 1


async def test_clean_close_after_a_finish_reason_without_done_ends_normally(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.stream(["a", "b"], finish_reason="stop", done=False))
    assert await collect(client) == ["a", "b"]
    assert len(server.requests) == 1


async def test_zero_events_then_clean_close_is_retried_once_with_the_same_key(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(stream_of([]), FakeResponse.stream(["ok"]))

    assert await collect(client) == ["ok"]
    assert len(server.requests) == 2
    assert len({r.headers["Idempotency-Key"] for r in server.requests}) == 1


async def test_zero_events_then_clean_close_without_retries_is_incomplete(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(stream_of([b": nothing\n\n"]))

    with pytest.raises(IncompleteStreamError) as info:
        await collect(client, retries=0)

    assert info.value.chunks_received == 0
    assert info.value.retryable is True
    assert len(server.requests) == 1


async def test_tcp_abort_before_any_chunk_is_retried_with_the_same_key(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        stream_of([b": hello\n\n"], then="abort", event_delay=0.01),
        FakeResponse.stream(["ok"]),
    )

    assert await collect(client) == ["ok"]
    assert len(server.requests) == 2
    assert len({r.headers["Idempotency-Key"] for r in server.requests}) == 1


# -- idle timeout -------------------------------------------------------------------

IDLE = orq_async.Timeouts(stream_idle=0.3)


@pytest.mark.parametrize("then", ["hang", "keepalive"])
async def test_stall_after_the_first_chunk_raises_idle_timeout(
    client: AsyncOrq, server: FakeOrqServer, then: Any
) -> None:
    server.enqueue(
        FakeResponse.stream(
            ["a"], finish_reason=None, done=False, then=then, event_delay=0.05
        )
    )
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True, timeouts=IDLE
    )
    texts: list[str] = []
    started = time.monotonic()
    with pytest.raises(StreamIdleTimeoutError) as info:
        async for chunk in stream:
            started = time.monotonic()
            texts.append(chunk.choices[0].text)
    waited = time.monotonic() - started

    assert texts == ["a"]
    assert 0.25 <= waited < 1.5
    assert info.value.chunks_delivered == 1
    assert info.value.retryable is False
    await server.wait_for_disconnect(timeout=1.0)
    assert len(server.requests) == 1


async def test_idle_before_the_first_chunk_is_retried_then_raises(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        stream_of([b": hello\n\n"], then="hang"),
        FakeResponse.stream(["ok"]),
        stream_of([b": hello\n\n"], then="hang"),
        stream_of([b": hello\n\n"], then="hang"),
    )
    # Attempt 1 stalls, attempt 2 succeeds.
    assert await collect(client, timeouts=IDLE) == ["ok"]
    assert len(server.requests) == 2

    # Every attempt stalls: each gets its own full idle limit, then the error.
    started = time.monotonic()
    with pytest.raises(StreamIdleTimeoutError) as info:
        await collect(client, timeouts=IDLE, retries=1)
    elapsed = time.monotonic() - started

    assert len(server.requests) == 4
    assert 0.55 <= elapsed < 2.0
    assert info.value.chunks_delivered == 0


async def test_long_healthy_stream_never_times_out(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    texts = [f"t{i}" for i in range(40)]
    server.enqueue(FakeResponse.stream(texts, event_delay=0.02))

    assert await collect(client, timeouts=IDLE) == texts


async def test_slow_consumer_is_not_an_idle_stream(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    # The limit is on waiting for the server, not on the time between __anext__
    # calls: the consumer pauses longer than the limit while the timer is armed.
    server.enqueue(FakeResponse.stream(["a", "b", "c"], event_delay=0.2))
    stream = await client.router.completions.create(
        model=MODEL, prompt="Hi", stream=True, timeouts=IDLE
    )
    texts: list[str] = []
    async with stream:
        async for chunk in stream:
            texts.append(chunk.choices[0].text)
            if len(texts) == 1:
                time.sleep(0.2)  # noqa: ASYNC251 - block the loop: the timer fires late
                await asyncio.sleep(0.2)

    assert texts == ["a", "b", "c"]


# -- size limit ---------------------------------------------------------------------

HUGE_EVENT = b"data: " + b"x" * (1024 * 1024) + b"\n\n"


async def test_oversized_event_raises_event_too_large_and_closes(
    server: FakeOrqServer,
) -> None:
    server.enqueue(stream_of([frame("a"), HUGE_EVENT], event_delay=0.05, then="hang"))
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, max_event_size=64 * 1024
    ) as client:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        texts: list[str] = []
        with pytest.raises(SSEProtocolError) as info:
            await read_into(stream, texts)

        assert isinstance(info.value, EventTooLargeError)
        assert texts == ["a"]
        await server.wait_for_disconnect(timeout=1.0)
        assert len(server.requests) == 1


async def test_chunk_in_the_same_read_as_an_oversized_event_is_delivered(
    server: FakeOrqServer,
) -> None:
    server.enqueue(stream_of([frame("a") + HUGE_EVENT], then="hang"))
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, max_event_size=1024
    ) as client:
        stream = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=True
        )
        texts: list[str] = []
        with pytest.raises(EventTooLargeError):
            await read_into(stream, texts)

        assert texts == ["a"]
