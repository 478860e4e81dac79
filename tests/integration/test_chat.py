"""Chat completions end to end against the fake router: bodies on the wire,
JSON and streamed answers, tool calls, usage, errors, truncation, retries and
connection release."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import aiohttp
import anyio
import pytest

from orq_async import (
    AsyncOrq,
    AuthenticationError,
    BadRequestError,
    ChatCompletion,
    ChatCompletionChunk,
    ChatStream,
    IncompleteStreamError,
    InternalServerError,
    InvalidParameterError,
    InvalidParameterTypeError,
    ResponseDecodeError,
    StreamAPIError,
    StreamConnectionError,
    StreamConsumedError,
    Timeouts,
    ToolArgumentsError,
    UnexpectedContentTypeError,
    UnprocessableEntityError,
)
from orq_async.testing import FakeOrqServer, FakeResponse, chat_chunk, sse_frame
from orq_async.types import TextPart, UserMessage

from ..chat_vectors import S1, S2, S3, STREAMS, as_json, want
from ..conftest import API_KEY

pytestmark = pytest.mark.usefixtures("no_unclosed_logs")

MODEL = "openai/gpt-4o"
HI = [{"role": "user", "content": "Hi"}]
USAGE = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


async def chat_stream(client: AsyncOrq, **params: Any) -> ChatStream:
    stream: ChatStream = await client.router.chat.completions.create(
        messages=HI, model=MODEL, stream=True, **params
    )
    return stream


# -- the request ----------------------------------------------------------------


async def test_the_body_is_exactly_the_fields_given(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.chat.completions.create(
        messages=HI,
        model=MODEL,
        tools=[{"function": {"name": "get_time"}}],
        tool_choice={"function": {"name": "get_time"}},
    )

    request = server.last_request
    assert request.path == "/v2/router/chat/completions"
    assert request.headers["Accept"] == "application/json"
    assert request.body == (
        b'{"messages":[{"role":"user","content":"Hi"}],"model":"openai/gpt-4o",'
        b'"tools":[{"type":"function","function":{"name":"get_time"}}],'
        b'"tool_choice":{"type":"function","function":{"name":"get_time"}}}'
    )


async def test_a_stream_request_asks_for_an_event_stream(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    stream = await chat_stream(client, stream_options={"include_usage": True})
    await stream.final_completion()

    request = server.last_request
    assert request.headers["Accept"] == "text/event-stream"
    assert request.body == (
        b'{"messages":[{"role":"user","content":"Hi"}],"model":"openai/gpt-4o",'
        b'"stream_options":{"include_usage":true},"stream":true}'
    )


async def test_structs_and_dicts_send_the_same_bytes(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    parts = [{"type": "text", "text": "Hi"}]
    await client.router.chat.completions.create(
        messages=[{"role": "user", "content": parts}], model=MODEL
    )
    await client.router.chat.completions.create(
        messages=[UserMessage(content=[TextPart(text="Hi")])], model=MODEL
    )

    assert server.requests[0].body == server.requests[1].body


async def test_per_call_options_reach_the_wire(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.chat.completions.create(
        messages=HI,
        model=MODEL,
        extra_headers={"X-Trace": "t1"},
        idempotency_key="key-1",
        timeouts=Timeouts(first_byte=30),
        retries=0,
        extra_body={"user": "ann"},
    )

    request = server.last_request
    assert request.headers["X-Trace"] == "t1"
    assert request.headers["Idempotency-Key"] == "key-1"
    assert request.json["user"] == "ann"


@pytest.mark.parametrize(
    ("params", "error", "field"),
    [
        pytest.param(
            {"messages": [{"role": "tool", "content": "x"}]},
            InvalidParameterError,
            "messages[0].tool_call_id",
            id="missing-tool-call-id",
        ),
        pytest.param(
            {"stream_options": {"include_usage": True}},
            InvalidParameterError,
            "stream_options",
            id="stream-options-without-stream",
        ),
        pytest.param(
            {"temperature": 3}, InvalidParameterError, "temperature", id="range"
        ),
        pytest.param(
            {"extra_body": {"model": "x"}},
            InvalidParameterError,
            "extra_body.model",
            id="extra-body-repeats-a-field",
        ),
        pytest.param(
            {"stream": "yes"}, InvalidParameterTypeError, "stream", id="stream-type"
        ),
    ],
)
async def test_invalid_arguments_fail_before_any_request(
    client: AsyncOrq,
    server: FakeOrqServer,
    params: dict[str, Any],
    error: type[InvalidParameterError],
    field: str,
) -> None:
    arguments: dict[str, Any] = {"messages": HI, "model": MODEL, **params}
    with pytest.raises(error) as info:
        await client.router.chat.completions.create(**arguments)

    assert info.value.field == field
    assert server.request_count == 0


@pytest.mark.parametrize("missing", ["messages", "model"])
async def test_a_missing_required_argument_is_a_type_error(
    client: AsyncOrq, server: FakeOrqServer, missing: str
) -> None:
    arguments: dict[str, Any] = {"messages": HI, "model": MODEL}
    del arguments[missing]

    with pytest.raises(InvalidParameterTypeError) as info:
        await client.router.chat.completions.create(**arguments)

    assert info.value.field == missing
    assert server.request_count == 0


async def test_the_orq_deprecation_warning_points_at_the_caller(
    client: AsyncOrq,
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        await client.router.chat.completions.create(
            messages=HI, model=MODEL, orq={"name": "x"}
        )
    assert record[0].filename == __file__


# -- JSON answers ---------------------------------------------------------------


async def test_a_generated_answer_decodes(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    result = await client.router.chat.completions.create(
        messages=HI, model=MODEL, max_completion_tokens=4, n=2
    )

    assert isinstance(result, ChatCompletion)
    assert [c.message.content for c in result.choices] == [
        "This is a fake",
        "It streams one word",
    ]
    assert [c.finish_reason for c in result.choices] == ["length", "length"]
    assert result.usage is not None
    assert result.usage.completion_tokens == 8


async def test_a_tool_call_answer_and_its_arguments(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(
        FakeResponse.chat_completion(
            None,
            tool_calls=[
                {
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": '{"city":"Paris"}',
                },
                {"name": "get_time", "arguments": '{"tz": "Eur'},
            ],
            usage=USAGE,
        )
    )

    result = await client.router.chat.completions.create(
        messages=HI, model=MODEL, tools=[WEATHER]
    )

    (choice,) = result.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None
    assert calls[0].parse_arguments() == {"city": "Paris"}
    with pytest.raises(ToolArgumentsError) as info:
        calls[1].parse_arguments()
    assert (info.value.raw, info.value.tool_call_id, info.value.name) == (
        '{"tz": "Eur',
        "call_1",
        "get_time",
    )


async def test_a_forced_tool_choice_gets_a_generated_call(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    result = await client.router.chat.completions.create(
        messages=HI, model=MODEL, tools=[WEATHER], tool_choice="required"
    )

    calls = result.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.name == "get_weather"
    assert calls[0].parse_arguments() == {"city": "fake"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"error":{"message":"upstream failed"}}', id="object"),
        pytest.param(b'{"error":"upstream failed","choices":[]}', id="string"),
    ],
)
async def test_an_error_object_in_a_200_answer_is_a_stream_api_error(
    client: AsyncOrq, server: FakeOrqServer, body: bytes
) -> None:
    server.enqueue_chat(FakeResponse.raw(body))

    with pytest.raises(StreamAPIError, match="upstream failed") as info:
        await client.router.chat.completions.create(messages=HI, model=MODEL)

    assert info.value.retryable is False
    assert server.request_count == 1


async def test_a_body_that_is_no_completion_is_a_decode_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.raw(b'{"choices": 7}'))

    with pytest.raises(ResponseDecodeError):
        await client.router.chat.completions.create(messages=HI, model=MODEL)


async def test_an_event_stream_answering_a_plain_call_is_assembled(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.events_(S2))

    result = await client.router.chat.completions.create(messages=HI, model=MODEL)

    assert isinstance(result, ChatCompletion)
    assert as_json(result) == want("S2")


async def test_a_json_answer_to_a_stream_is_yielded_as_one_chunk(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(
        FakeResponse.chat_completion(
            "cached",
            tool_calls=[{"id": "c1", "name": "f", "arguments": "{}"}],
            usage=USAGE,
        )
    )

    stream = await chat_stream(client)
    chunks = [chunk async for chunk in stream]

    assert len(chunks) == 1
    assert chunks[0].object == "chat.completion.chunk"
    final = await stream.final_completion()
    assert final.choices[0].message.content == "cached"
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    assert (calls[0].id, calls[0].function.name) == ("c1", "f")
    assert final.choices[0].finish_reason == "tool_calls"
    assert stream.usage is not None
    assert stream.usage.total_tokens == 11
    assert client.pool_stats().in_use == 0


@pytest.mark.parametrize(
    ("response", "error"),
    [
        pytest.param(FakeResponse.error(400, "bad"), BadRequestError, id="400"),
        pytest.param(
            FakeResponse.raw(
                b'{"error":{"code":"invalid_api_key","message":"no",'
                b'"doc_url":"https://docs.orq.ai/errors/x"}}',
                status=401,
            ),
            AuthenticationError,
            id="401-docs-shape",
        ),
        pytest.param(
            FakeResponse.raw(b'{"code":401,"error":"key not configured"}', status=401),
            AuthenticationError,
            id="401-string-shape",
        ),
        pytest.param(FakeResponse.raw(b"", status=500), InternalServerError, id="500"),
        pytest.param(
            FakeResponse.raw(b"<html>", content_type="text/html"),
            UnexpectedContentTypeError,
            id="html",
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_error_answers_raise_typed_errors(
    client: AsyncOrq,
    server: FakeOrqServer,
    response: FakeResponse,
    error: type[Exception],
    stream: bool,
) -> None:
    server.enqueue_chat(response, response, response)

    with pytest.raises(error):
        await client.router.chat.completions.create(
            messages=HI, model=MODEL, stream=stream, retries=0
        )


# -- streams --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("split", ["events", "one event per read", "bytes"])
async def test_the_example_streams_give_their_completions(
    client: AsyncOrq, server: FakeOrqServer, name: str, split: str
) -> None:
    raw = b"".join(STREAMS[name])
    server.enqueue_chat(
        FakeResponse.drip(raw, interval=0)
        if split == "bytes"
        else FakeResponse.events_(
            STREAMS[name], event_delay=0.005 if split == "one event per read" else 0
        )
    )

    stream = await chat_stream(client)
    async with stream:
        final = await stream.final_completion()

    assert as_json(final) == want(name)
    assert stream.chunks_received == len(STREAMS[name]) - 1
    assert client.pool_stats().in_use == 0


@pytest.mark.parametrize(
    ("name", "texts"),
    [("S1", ["Hello", "! How can I help?"]), ("S2", []), ("S3", ["Hi", " there"])],
)
async def test_aiter_text_yields_only_the_text_deltas(
    client: AsyncOrq, server: FakeOrqServer, name: str, texts: list[str]
) -> None:
    server.enqueue_chat(FakeResponse.events_(STREAMS[name]))

    stream = await chat_stream(client)
    got = [text async for text in stream.aiter_text()]

    assert got == texts
    assert stream.partial_text == "".join(texts)
    assert client.pool_stats().in_use == 0


async def test_the_usage_chunk_has_no_choices(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.events_(S3))

    stream = await chat_stream(client)
    chunks = [chunk async for chunk in stream]

    assert chunks[-1].choices == []
    assert stream.usage is not None
    assert stream.usage.total_tokens == 11
    assert [c.usage for c in chunks[:-1]] == [None] * 4


async def test_a_generated_stream_with_include_usage(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    stream = await chat_stream(
        client, max_tokens=3, n=2, stream_options={"include_usage": True}
    )
    final = await stream.final_completion()

    assert [c.message.content for c in final.choices] == [
        "This is a",
        "It streams one",
    ]
    assert final.usage is not None
    assert final.usage.completion_tokens == 6
    assert stream.usage == final.usage


async def test_a_generated_stream_without_include_usage_has_none(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    stream = await chat_stream(client, max_tokens=2)
    final = await stream.final_completion()

    assert final.usage is None
    assert stream.usage is None
    assert final.choices[0].message.content == "This is"


async def test_a_tool_call_split_over_many_chunks(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    arguments = json.dumps({"city": "Paris", "days": list(range(20))})
    server.enqueue_chat(
        FakeResponse.chat_stream(
            [],
            tool_calls=[
                {"id": "call_a", "name": "get_weather", "arguments": arguments},
                {"id": "call_b", "name": "get_time", "arguments": '{"tz": "UTC"}'},
            ],
            argument_chunks=50,
            usage=USAGE,
        )
    )

    stream = await chat_stream(client)
    texts = [text async for text in stream.aiter_text()]
    final = await stream.final_completion()

    assert texts == []
    assert stream.chunks_received > 50
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name) for c in calls] == [
        ("call_a", "get_weather"),
        ("call_b", "get_time"),
    ]
    assert calls[0].parse_arguments() == json.loads(arguments)
    assert calls[1].parse_arguments() == {"tz": "UTC"}
    assert final.choices[0].finish_reason == "tool_calls"


async def test_final_completion_counts_the_chunks_already_read(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.events_(S1))

    stream = await chat_stream(client)
    first = await stream.__anext__()
    middle = stream.partial_completion
    final = await stream.final_completion()

    assert first.choices[0].delta.role == "assistant"
    assert middle.choices[0].message.content == ""
    assert middle.choices[0].finish_reason is None
    assert final.choices[0].message.content == "Hello! How can I help?"
    assert await stream.final_completion() == final  # once ended, again


async def test_several_choices_end_cleanly_without_done(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    frames = [
        sse_frame(chat_chunk("a", index=0)),
        sse_frame(chat_chunk("b", index=1, finish_reason="length")),
        sse_frame(chat_chunk(index=0, finish_reason="stop")),
    ]
    server.enqueue_chat(FakeResponse.events_(frames))

    stream = await chat_stream(client, n=2)
    final = await stream.final_completion()

    assert [(c.message.content, c.finish_reason) for c in final.choices] == [
        ("a", "stop"),
        ("b", "length"),
    ]
    assert stream.partial_text == "a"


async def test_the_sse_relay_re_encodes_chat_chunks(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.events_(S1))

    stream = await chat_stream(client)
    frames = [frame async for frame in stream.aiter_sse()]

    assert frames[-1] == b"data: [DONE]\n\n"
    assert b'"content":"Hello"' in frames[1]
    assert len(frames) == 5


# -- errors and truncation -----------------------------------------------------


async def test_a_stream_cut_mid_tool_call_carries_the_partial_completion(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.events_(S2[:3]))

    stream = await chat_stream(client)
    with pytest.raises(IncompleteStreamError) as info:
        await stream.final_completion()

    error = info.value
    assert error.chunks_received == 3
    assert error.retryable is False
    partial = error.partial_completion
    assert partial is not None
    assert partial.choices[0].finish_reason is None
    calls = partial.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.arguments == '{"city": "Par'
    with pytest.raises(ToolArgumentsError) as bad:
        calls[0].parse_arguments()
    assert bad.value.raw == '{"city": "Par'
    assert server.request_count == 1
    assert client.pool_stats().in_use == 0


async def test_a_cut_text_stream_carries_its_partial_text(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.events_(S1[:3]))

    stream = await chat_stream(client)
    with pytest.raises(IncompleteStreamError) as info:
        async for _ in stream:
            pass

    assert info.value.partial_text == "Hello! How can I help?"
    assert info.value.partial_completion is not None
    assert stream.partial_completion.choices[0].message.content == (
        "Hello! How can I help?"
    )


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(
            sse_frame({"error": {"message": "overloaded", "type": "server_error"}}),
            id="data-error",
        ),
        pytest.param(
            sse_frame({"error": "overloaded", "choices": []}), id="data-string-error"
        ),
        pytest.param(
            sse_frame({"error": {"message": "overloaded"}}, event="error"),
            id="event-error",
        ),
    ],
)
@pytest.mark.parametrize("event_delay", [0, 0.005], ids=["together", "one per read"])
async def test_an_in_band_error_after_the_first_chunk_is_raised(
    client: AsyncOrq, server: FakeOrqServer, frame: bytes, event_delay: float
) -> None:
    # Together, the error payload is met on the fast path (the next message
    # of a read); one event per read, on the simple one (a read's first).
    server.enqueue_chat(
        FakeResponse.events_([S1[0], S1[1], frame], event_delay=event_delay)
    )

    stream = await chat_stream(client)
    with pytest.raises(StreamAPIError, match="overloaded") as info:
        async for _ in stream:
            pass

    assert info.value.chunks_delivered == 2
    assert info.value.retryable is False
    assert server.request_count == 1


async def test_a_delta_whose_text_is_error_is_just_text(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.chat_stream(["error", ": none"]))

    stream = await chat_stream(client)

    assert [t async for t in stream.aiter_text()] == ["error", ": none"]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param({"error": {"message": "overloaded"}}, id="alone"),
        pytest.param(
            {**chat_chunk("c"), "error": {"message": "overloaded"}},
            id="next-to-choices",
        ),
    ],
)
async def test_an_error_payload_among_chunks_of_one_read_is_raised(
    client: AsyncOrq, server: FakeOrqServer, error: dict[str, Any]
) -> None:
    # The role chunk, three text chunks and the error, all in one write (and
    # so, on loopback, mostly in one read).
    frames = [sse_frame(chat_chunk(role="assistant", content=""))]
    frames += [sse_frame(chat_chunk(t)) for t in ("a", "b", "c")]
    server.enqueue_chat(FakeResponse.events_([b"".join([*frames, sse_frame(error)])]))

    stream = await chat_stream(client)
    with pytest.raises(StreamAPIError, match="overloaded") as info:
        async for _ in stream:
            pass

    assert info.value.chunks_delivered == 4
    assert stream.partial_text == "abc"
    assert stream.partial_completion.choices[0].message.content == "abc"


@pytest.mark.parametrize("event_delay", [0, 0.005], ids=["together", "one per read"])
async def test_a_null_error_member_next_to_choices_is_a_chunk(
    client: AsyncOrq, server: FakeOrqServer, event_delay: float
) -> None:
    frames = [sse_frame(chat_chunk(role="assistant", content=""))]
    frames += [sse_frame({**chat_chunk(t), "error": None}) for t in ("a", "b")]
    frames += [sse_frame(chat_chunk(finish_reason="stop")), b"data: [DONE]\n\n"]
    server.enqueue_chat(FakeResponse.events_(frames, event_delay=event_delay))

    stream = await chat_stream(client)
    final = await stream.final_completion()

    assert final.choices[0].message.content == "ab"
    assert stream.chunks_received == 4


async def test_text_chunks_in_one_read_assemble_with_any_word_in_them(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    texts = ["x", "error", '"error"', ' {"error": 1}', "y"]
    frames = [sse_frame(chat_chunk(role="assistant", content=""))]
    frames += [sse_frame(chat_chunk(t)) for t in texts]
    frames += [sse_frame(chat_chunk(finish_reason="stop")), b"data: [DONE]\n\n"]
    server.enqueue_chat(FakeResponse.events_([b"".join(frames)]))

    stream = await chat_stream(client)
    final = await stream.final_completion()

    assert final.choices[0].message.content == "".join(texts)
    assert stream.partial_text == "".join(texts)
    assert stream.chunks_received == len(texts) + 2


# -- retries: only before the first chunk --------------------------------------


async def test_an_error_status_is_retried(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.error(503), FakeResponse.events_(S1))

    stream = await chat_stream(client)
    final = await stream.final_completion()

    assert final.choices[0].message.content == "Hello! How can I help?"
    assert stream.attempts == 2
    assert server.request_count == 2


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(
            FakeResponse.events_([], then="abort"), id="dropped-before-any-chunk"
        ),
        pytest.param(
            FakeResponse.events_(
                [sse_frame({"error": {"message": "busy"}}, event="error")]
            ),
            id="in-band-error-first",
        ),
        pytest.param(FakeResponse.events_([]), id="empty-body"),
    ],
)
async def test_a_stream_failing_before_its_first_chunk_is_retried(
    client: AsyncOrq, server: FakeOrqServer, first: FakeResponse
) -> None:
    server.enqueue_chat(first, FakeResponse.events_(S3))

    stream = await chat_stream(client)
    final = await stream.final_completion()

    assert as_json(final) == want("S3")
    assert stream.attempts == 2
    assert server.request_count == 2


async def test_a_stream_dropped_after_its_first_chunk_is_not_retried(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(FakeResponse.events_(S2[:2], then="abort"))

    stream = await chat_stream(client)
    with pytest.raises(StreamConnectionError) as info:
        await stream.final_completion()

    assert info.value.retryable is False
    assert info.value.chunks_delivered == 2
    assert server.request_count == 1
    calls = stream.partial_completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.arguments == '{"ci'
    assert client.pool_stats().in_use == 0


# -- release on every exit path --------------------------------------------------


def hanging_chat() -> FakeResponse:
    return FakeResponse.chat_stream(
        ["a", "b"], finish_reason=None, done=False, then="hang"
    )


async def test_break_releases_the_connection(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(hanging_chat())

    stream = await chat_stream(client)
    async for _ in stream:
        break
    del stream

    await server.wait_for_disconnect(timeout=2.0)
    assert client.pool_stats().in_use == 0


async def test_aclose_releases_the_connection_and_ends_the_stream(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(hanging_chat())

    stream = await chat_stream(client)
    await stream.__anext__()
    await stream.aclose()

    await server.wait_for_disconnect(timeout=2.0)
    assert client.pool_stats().in_use == 0
    with pytest.raises(StreamConsumedError):
        await stream.final_completion()


async def test_leaving_async_with_releases_the_connection(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(hanging_chat())

    async with await chat_stream(client) as stream:
        async for _ in stream.aiter_text():
            break

    await server.wait_for_disconnect(timeout=2.0)
    assert client.pool_stats().in_use == 0


async def test_an_exception_in_the_consumer_releases_the_connection(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(hanging_chat())

    with pytest.raises(ValueError, match="consumer"):
        async with await chat_stream(client) as stream:
            async for _ in stream:
                raise ValueError("consumer")

    await server.wait_for_disconnect(timeout=2.0)
    assert client.pool_stats().in_use == 0


async def test_cancelling_final_completion_releases_the_connection(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(hanging_chat())

    stream = await chat_stream(client)
    with anyio.move_on_after(0.2):
        await stream.final_completion()

    await server.wait_for_disconnect(timeout=2.0)
    assert client.pool_stats().in_use == 0
    assert stream.partial_text == "ab"


async def test_a_dropped_text_iterator_releases_the_connection(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(hanging_chat())

    texts = (await chat_stream(client)).aiter_text()
    assert await texts.__anext__() == "a"
    del texts
    gc.collect()

    await server.wait_for_disconnect(timeout=2.0)
    assert client.pool_stats().in_use == 0


async def test_an_idle_stream_times_out_and_releases(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue_chat(hanging_chat())

    stream = await chat_stream(client, timeouts=Timeouts(stream_idle=0.2))
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await stream.final_completion()

    assert asyncio.get_running_loop().time() - started < 5
    assert client.pool_stats().in_use == 0


async def test_closing_the_client_ends_an_open_chat_stream(
    server: FakeOrqServer,
) -> None:
    server.enqueue_chat(hanging_chat())
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as client:
        stream = await chat_stream(client)
        await stream.__anext__()

    await server.wait_for_disconnect(timeout=2.0)


# -- chunk types ---------------------------------------------------------------


async def test_chunks_are_typed(client: AsyncOrq, server: FakeOrqServer) -> None:
    stream = await chat_stream(client, max_tokens=1)
    chunks = [chunk async for chunk in stream]

    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert chunks[0].data is chunks[0]
    assert isinstance(stream, ChatStream)


async def test_a_chunk_of_several_choices_and_odd_indices(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    choices = [
        {"index": 1, "delta": {"content": "x"}, "finish_reason": "stop"},
        {"index": 0.0, "delta": {"content": "y"}, "finish_reason": "stop"},
    ]
    server.enqueue_chat(
        FakeResponse.events_([sse_frame(chat_chunk(choices=choices))]),
        FakeResponse.events_([sse_frame(chat_chunk(choices=choices))]),
    )

    texts = [t async for t in (await chat_stream(client, n=2)).aiter_text()]
    stream = await chat_stream(client, n=2)
    final = await stream.final_completion()

    assert texts == ["y"]
    assert [(c.index, c.message.content) for c in final.choices] == [(0, "y"), (1, "x")]
    assert stream.partial_text == "y"


async def test_a_completion_is_its_own_single_event(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    result = await client.router.chat.completions.create(messages=HI, model=MODEL)

    with result as events:
        assert [event.data for event in events] == [result]


async def test_the_fake_router_refuses_what_it_cannot_generate(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.url + "/v2/router/chat/completions",
            json={"model": "m"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as response:
            assert response.status == 422
    with pytest.raises(UnprocessableEntityError):
        await client.router.chat.completions.create(messages=HI, model=MODEL, n=17)
    with pytest.raises(ValueError, match="argument_chunks"):
        FakeResponse.chat_stream(tool_calls=[{"name": "f"}], argument_chunks=0)


async def test_a_tool_choice_naming_no_tool_gets_text(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    result = await client.router.chat.completions.create(
        messages=HI,
        model=MODEL,
        tools=[WEATHER],
        tool_choice={"function": {"name": "missing"}},
        max_tokens=2,
    )

    assert result.choices[0].message.tool_calls is None
    assert result.choices[0].message.content == "This is"
