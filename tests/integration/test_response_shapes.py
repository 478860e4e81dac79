"""The response decides its shape: a JSON completion answering ``stream=True``,
an event stream answering a call without ``stream``; plus the values a caller
passes as they reach the server, and error messages and retry statuses."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from orq_async import (
    APIError,
    AsyncOrq,
    AuthenticationError,
    BackoffStrategy,
    Completion,
    IncompleteStreamError,
    InternalServerError,
    Orq,
    ResponseDecodeError,
    ResponseTooLargeError,
    RetryConfig,
    SSEProtocolError,
    StreamAPIError,
    StreamDecodeError,
    UnexpectedContentTypeError,
)
from orq_async.testing import FakeOrqServer, FakeResponse, completion_chunk, sse_frame

from ..conftest import API_KEY
from ..helpers import frame

MODEL = "openai/gpt-3.5-turbo-instruct"
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def events(*frames: bytes) -> FakeResponse:
    return FakeResponse.events_(list(frames))


# --- stream=True answered by a JSON completion --------------------------------


async def test_a_json_answer_to_a_stream_is_yielded_as_one_chunk(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    whole = completion_chunk("Hello world", finish_reason="stop", usage=USAGE)
    server.enqueue(FakeResponse.json(whole, headers={"x-request-id": "rid-1"}))

    stream = await client.router.completions.create(
        model=MODEL, prompt="hi", stream=True
    )
    chunks = [chunk async for chunk in stream]

    assert [c.choices[0].text for c in chunks] == ["Hello world"]
    assert chunks[0].choices[0].finish_reason == "stop"
    assert stream.usage is not None and stream.usage.total_tokens == 5
    assert stream.partial_text == "Hello world"
    assert stream.request_id == "rid-1"
    assert client.pool_stats().in_use == 0


async def test_a_json_answer_to_a_stream_reads_as_text(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.completion("cached answer"))

    stream = await client.router.completions.create(
        model=MODEL, prompt="hi", stream=True
    )

    assert await stream.text() == "cached answer"


async def test_an_invalid_json_answer_to_a_stream_is_a_decode_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.raw(b'{"choices": "nope"}'))

    with pytest.raises(ResponseDecodeError):
        await client.router.completions.create(model=MODEL, prompt="hi", stream=True)

    assert client.pool_stats().in_use == 0


# --- a call without stream answered by an event stream --------------------------


async def test_an_event_stream_answer_is_assembled_into_a_completion(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        events(
            frame("Hel", id="c-9", model="m-1", created=7),
            frame("Wor", index=1, id="c-9", model="m-1", created=7),
            frame("lo", finish_reason="stop", id="c-9", model="m-1", created=7),
            frame("ld", index=1, finish_reason="length", id="c-9", model="m-1"),
            sse_frame({"id": "c-9", "choices": [], "usage": USAGE}),
            sse_frame("[DONE]"),
        )
    )

    completion = await client.router.completions.create(model=MODEL, prompt="hi")

    assert isinstance(completion, Completion)
    assert [(c.index, c.text, c.finish_reason) for c in completion.choices] == [
        (0, "Hello", "stop"),
        (1, "World", "length"),
    ]
    assert (completion.id, completion.model, completion.created) == ("c-9", "m-1", 7)
    assert completion.usage is not None and completion.usage.total_tokens == 5
    assert client.pool_stats().in_use == 0


async def test_the_fake_routers_stream_gives_the_same_text_as_its_json(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.stream(["a", "b", "c"]))

    completion = await client.router.completions.create(model=MODEL, prompt="hi")

    assert completion.choices[0].text == "abc"
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        pytest.param(
            events(frame("a"), frame("b")),
            IncompleteStreamError,
            id="truncated",
        ),
        pytest.param(
            events(frame("a"), sse_frame("{not json"), sse_frame("[DONE]")),
            StreamDecodeError,
            id="broken-chunk",
        ),
        pytest.param(
            events(
                frame("a"),
                sse_frame({"error": {"message": "upstream failed"}}, event="error"),
            ),
            StreamAPIError,
            id="in-band-error",
        ),
        pytest.param(events(sse_frame("[DONE]")), ResponseDecodeError, id="no-chunks"),
    ],
)
async def test_a_broken_event_stream_answer_raises_as_a_stream_would(
    client: AsyncOrq, server: FakeOrqServer, response: FakeResponse, error: type
) -> None:
    server.enqueue(response)

    with pytest.raises(error):
        await client.router.completions.create(model=MODEL, prompt="hi", retries=0)

    assert client.pool_stats().in_use == 0


async def test_an_oversized_event_in_an_assembled_answer_is_a_protocol_error(
    server: FakeOrqServer,
) -> None:
    server.enqueue(events(frame("x" * 2000), sse_frame("[DONE]")))

    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, max_event_size=1024, retries=0
    ) as orq:
        with pytest.raises(SSEProtocolError):
            await orq.router.completions.create(model=MODEL, prompt="hi")


async def test_other_content_types_keep_their_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.raw(b"<html>oops</html>", content_type="text/html"))

    with pytest.raises(UnexpectedContentTypeError) as info:
        await client.router.completions.create(model=MODEL, prompt="hi")

    assert "application/json or text/event-stream" in str(info.value)
    assert "oops" in info.value.body_excerpt


def test_the_sync_client_reads_both_shapes(threaded_server: FakeOrqServer) -> None:
    threaded_server.enqueue(
        FakeResponse.stream(["x", "y"]), FakeResponse.completion("whole")
    )
    with Orq(api_key=API_KEY, server_url=threaded_server.url) as orq:
        completion = orq.router.completions.create(model=MODEL, prompt="hi")
        with orq.router.completions.create(
            model=MODEL, prompt="hi", stream=True
        ) as stream:
            texts = [event.data.choices[0].text for event in stream]

    assert completion.choices[0].text == "xy"
    assert texts == ["whole"]


# --- official-SDK stream code ------------------------------------------------------


async def test_official_sdk_stream_code_runs_unchanged(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.stream(["Hello", " world"]))

    res = await client.router.completions.create(model=MODEL, prompt="hi", stream=True)
    async with res as event_stream:
        texts = [event.data.choices[0].text async for event in event_stream]

    assert texts == ["Hello", " world"]


# --- lenient numbers, through the client ----------------------------------------


async def test_fractional_numbers_in_a_stream_do_not_lose_it(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    odd = {
        "id": "c",
        "created": 1.7e9,
        "choices": [{"text": "b", "index": 1.0, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4.5, "completion_tokens": 2, "total_tokens": 6.5},
    }
    server.enqueue(
        events(frame("a", finish_reason="stop"), sse_frame(odd), sse_frame("[DONE]"))
    )

    stream = await client.router.completions.create(
        model=MODEL, prompt="hi", stream=True
    )
    chunks = [chunk async for chunk in stream]

    assert len(chunks) == 2
    assert stream.usage is not None and stream.usage.prompt_tokens == 4.5


async def test_a_stream_with_an_odd_index_still_ends_cleanly(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        events(
            frame("a", finish_reason="stop"),
            sse_frame({"id": "c", "choices": [{"text": "b", "index": -1}]}),
            sse_frame({"id": "c", "choices": [{"text": "c", "index": 1e300}]}),
        )
    )

    stream = await client.router.completions.create(
        model=MODEL, prompt="hi", stream=True
    )

    with pytest.raises(IncompleteStreamError):
        async for _ in stream:
            pass
    assert stream.chunks_received == 3


# --- values on the wire -------------------------------------------------------


class Model(str, enum.Enum):
    GPT = MODEL


async def test_enum_and_whole_float_values_reach_the_server_as_plain_values(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(
        model=Model.GPT, prompt=[Model.GPT], max_tokens=4.0, seed=1.0
    )

    assert server.last_request.body == (
        b'{"model":"openai/gpt-3.5-turbo-instruct",'
        b'"prompt":["openai/gpt-3.5-turbo-instruct"],"max_tokens":4,"seed":1}'
    )


async def test_a_missing_model_is_a_type_error_before_any_request(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    kwargs: dict[str, Any] = {"prompt": "hi"}

    with pytest.raises(TypeError, match="model"):
        await client.router.completions.create(**kwargs)

    assert server.requests == []


# --- error messages and retry statuses ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(
            b"Unauthorized", "text/plain", "HTTP 401: Unauthorized (text/plain body)"
        ),
        pytest.param(b"", "text/plain", "HTTP 401: Unauthorized (empty body)"),
        pytest.param(
            b'{"error":{"message":""}}', "application/json", "HTTP 401: Unauthorized"
        ),
    ],
)
async def test_an_error_message_says_the_status_once(
    client: AsyncOrq,
    server: FakeOrqServer,
    body: bytes,
    content_type: str,
    expected: str,
) -> None:
    server.enqueue(FakeResponse.raw(body, status=401, content_type=content_type))

    with pytest.raises(AuthenticationError) as info:
        await client.router.completions.create(model=MODEL, prompt="hi")

    assert str(info.value) == expected
    assert str(info.value).count("401") == 1


FAST_SDK_RETRIES = RetryConfig("backoff", BackoffStrategy(1, 2, 1.1, 5000))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_an_sdk_retry_config_retries_the_sdks_statuses(
    client: AsyncOrq, server: FakeOrqServer, status: int
) -> None:
    server.enqueue(FakeResponse.error(status), FakeResponse.completion("ok"))

    completion = await client.router.completions.create(
        model=MODEL, prompt="hi", retries=FAST_SDK_RETRIES
    )

    assert completion.choices[0].text == "ok"
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [408, 409, 501])
async def test_an_sdk_retry_config_does_not_retry_other_statuses(
    client: AsyncOrq, server: FakeOrqServer, status: int
) -> None:
    server.enqueue(FakeResponse.error(status), FakeResponse.completion("ok"))

    with pytest.raises(APIError) as info:
        await client.router.completions.create(
            model=MODEL, prompt="hi", retries=FAST_SDK_RETRIES
        )

    assert info.value.status_code == status
    assert len(server.requests) == 1


async def test_an_sdk_retry_config_override_decides_the_statuses(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.error(500), FakeResponse.completion("ok"))
    retries = RetryConfig(
        "backoff", BackoffStrategy(1, 2, 1.1, 5000), status_codes_override=["429"]
    )

    with pytest.raises(InternalServerError):
        await client.router.completions.create(
            model=MODEL, prompt="hi", retries=retries
        )

    assert len(server.requests) == 1


async def test_an_error_status_without_a_reason_phrase_reads_cleanly(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.raw(b"", status=599, content_type="text/plain"))

    with pytest.raises(InternalServerError) as info:
        await client.router.completions.create(model=MODEL, prompt="hi", retries=0)

    assert str(info.value) == "HTTP 599: error (empty body)"


async def test_an_assembled_answer_is_held_to_the_response_size_limit(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.stream(["x" * 600] * 4))

    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, max_response_size=1024, retries=0
    ) as orq:
        with pytest.raises(ResponseTooLargeError):
            await orq.router.completions.create(model=MODEL, prompt="hi")

        assert orq.pool_stats().in_use == 0


async def test_orq_contact_warns_at_the_callers_line_and_is_still_sent(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        await client.router.completions.create(
            model=MODEL, prompt="hi", orq={"contact": {"id": "c-1"}}
        )

    assert sorted(str(w.message) for w in record) == [
        "'orq.contact' is deprecated by Orq; use 'orq.identity'",
        "the 'orq' parameter is deprecated by Orq; use the top-level fields",
    ]
    assert {w.filename for w in record} == {__file__}
    assert server.last_request.json["orq"] == {"contact": {"id": "c-1"}}
