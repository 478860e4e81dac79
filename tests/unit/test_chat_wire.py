"""Chat request bodies and response decoding (no network).

Each request vector is passed as the exact keys of the body it must produce;
the bytes are compared, so an int sent as a float (``42.0``) fails too.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from orq_async._chat_codec import (
    CHAT_CHUNK_DECODER,
    CHAT_COMPLETION_DECODER,
    build_chat_request,
    carries_error,
)
from orq_async._chat_params import ChatCompletionCreateParams
from orq_async._chat_wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    File,
    FilePart,
    ToolCall,
    UserMessage,
)
from orq_async._exceptions import (
    InvalidParameterError,
    InvalidParameterTypeError,
    ToolArgumentsError,
)

HI = [{"role": "user", "content": "Hi"}]


def compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


BODIES = [
    pytest.param(
        {"messages": [{"role": "user", "content": "Hi"}], "model": "openai/gpt-4o"},
        id="R1",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "No emojis."}],
                },
                {"role": "user", "content": "Hi", "name": "ann"},
            ],
            "model": "openai/gpt-4o",
            "frequency_penalty": 0.5,
            "max_completion_tokens": 256,
            "n": 1,
            "presence_penalty": 0,
            "seed": 42,
            "stop": ["\n\n"],
            "temperature": 1,
            "top_p": 1,
        },
        id="R2",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "openai/gpt-4o",
            "stream_options": {"include_usage": True},
            "stream": True,
        },
        id="R3",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "openai/gpt-4o",
            "max_tokens": None,
            "temperature": None,
        },
        id="R4",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe"},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "https://example.com/a.png",
                                "detail": "low",
                            },
                        },
                        {
                            "type": "input_audio",
                            "input_audio": {"data": "UklGRg==", "format": "wav"},
                        },
                        {
                            "type": "file",
                            "file": {
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                                "filename": "a.pdf",
                            },
                        },
                    ],
                }
            ],
            "model": "openai/gpt-4o",
        },
        id="R5",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "openai/gpt-4o",
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Current weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                            "additionalProperties": False,
                        },
                        "strict": True,
                    },
                }
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": False,
        },
        id="R6",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "openai/gpt-4o",
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}},
        },
        id="R7",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_Xa1",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city":"Paris"}',
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "content": '{"temp_c":21}',
                    "tool_call_id": "call_Xa1",
                },
            ],
            "model": "openai/gpt-4o",
        },
        id="R8",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "openai/gpt-4o",
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "answer",
                    "schema": {
                        "type": "object",
                        "properties": {"x": {"type": "integer"}},
                        "required": ["x"],
                        "$defs": {},
                    },
                },
            },
        },
        id="R9",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "anthropic/claude-sonnet-4-5",
            "max_tokens": 4096,
            "reasoning_effort": "low",
            "verbosity": "low",
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        },
        id="R10",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "openai/gpt-4o",
            "fallback_on_codes": [429, 503],
            "fallbacks": [{"model": "anthropic/claude-haiku-4-5"}],
            "retry": {"count": 2, "on_codes": [429, 503]},
            "cache": {"type": "exact_match", "ttl": 600},
            "load_balancer": {
                "type": "weight_based",
                "models": [
                    {"model": "openai/gpt-4o", "weight": 0.7},
                    {"model": "azure/gpt-4o", "weight": 0.3},
                ],
            },
            "timeout": {"call_timeout": 30000},
        },
        id="R11",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi {{name}}"}],
            "model": "openai/gpt-4o",
            "metadata": {"team": "support"},
            "name": "greeting",
            "variables": {"name": "Ann"},
            "orq": {
                "identity": {"id": "user_42", "email": "ann@example.com"},
                "thread": {"id": "thr_1", "tags": ["support"]},
                "knowledge_bases": [
                    {
                        "knowledge_id": "kb_docs",
                        "top_k": 5,
                        "search_type": "hybrid_search",
                    }
                ],
            },
        },
        id="R12",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "system",
                    "content": [
                        {
                            "type": "text",
                            "text": "Long policy",
                            "cache_control": {"type": "ephemeral"},
                        }
                    ],
                },
                {"role": "user", "content": "Hi"},
            ],
            "model": "anthropic/claude-sonnet-4-5",
            "guardrails": [{"id": "orq_pii_detection", "execute_on": "input"}],
            "plugins": [
                {"id": "pii_redaction", "entities": ["EMAIL_ADDRESS"]},
                {"id": "trace_scrubbing", "mask": ["input", "output"]},
            ],
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        id="R13",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "model": "openai/gpt-4o-audio-preview",
            "audio": {"voice": "alloy", "format": "wav"},
            "logprobs": True,
            "top_logprobs": 3,
            "modalities": ["text", "audio"],
        },
        id="R14",
    ),
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_request_body_is_exactly_the_fields_given(body: dict[str, Any]) -> None:
    assert build_chat_request(body) == compact(body)


def test_tool_and_named_tool_choice_types_are_always_sent() -> None:
    built = build_chat_request(
        {
            "messages": HI,
            "model": "openai/gpt-4o",
            "tools": [{"function": {"name": "get_time"}}],
            "tool_choice": {"function": {"name": "get_time"}},
        }
    )

    assert json.loads(built) == {
        "messages": HI,
        "model": "openai/gpt-4o",
        "tools": [{"type": "function", "function": {"name": "get_time"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_time"}},
    }


def test_the_orq_container_warns() -> None:
    with pytest.warns(DeprecationWarning, match="'orq' parameter is deprecated"):
        build_chat_request(
            {"messages": HI, "model": "m", "orq": {"thread": {"id": "t"}}}
        )


def test_structs_and_dicts_give_the_same_bytes() -> None:
    as_dicts = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"arguments": "{}"}}
                ],
            },
        ],
        "model": "m",
    }
    as_structs = {
        "messages": [
            UserMessage(content="Hi"),
            msgspec.convert(as_dicts["messages"][1], AssistantMessage),
        ],
        "model": "m",
    }

    assert build_chat_request(as_structs) == build_chat_request(as_dicts)


def test_whole_floats_for_integer_fields_are_sent_as_ints() -> None:
    built = build_chat_request(
        {
            "messages": HI,
            "model": "m",
            "seed": 42.0,
            "max_completion_tokens": 256.0,
            "thinking": {"type": "enabled", "budget_tokens": 2048.0},
        }
    )

    assert built.endswith(
        b'"max_completion_tokens":256,"seed":42,'
        b'"thinking":{"type":"enabled","budget_tokens":2048}}'
    )


def test_free_form_json_is_passed_through_verbatim() -> None:
    schema = {"type": "object", "$defs": {"x": {"type": "integer"}}, "weird": [1.0]}
    built = build_chat_request(
        {
            "messages": HI,
            "model": "m",
            "tools": [{"function": {"name": "f", "parameters": schema}}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": schema},
            },
            "variables": {"n": 1.0},
        }
    )

    decoded = json.loads(built)
    assert decoded["tools"][0]["function"]["parameters"] == schema
    assert decoded["response_format"]["json_schema"]["schema"] == schema
    assert b'"weird":[1.0]' in built
    assert b'"variables":{"n":1.0}' in built


def test_extra_body_is_merged_last() -> None:
    built = build_chat_request(
        {"messages": HI, "model": "m"}, extra_body={"user": "u1", "store": False}
    )

    assert built == compact(
        {"messages": HI, "model": "m", "user": "u1", "store": False}
    )


def test_extra_body_may_not_repeat_a_modelled_field() -> None:
    with pytest.raises(InvalidParameterError) as info:
        build_chat_request({"messages": HI, "model": "m"}, extra_body={"seed": 1})

    assert info.value.field == "extra_body.seed"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (
            {"messages": [{"role": "user", "content": "Hi", "foo": 1}]},
            "messages[0].foo",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {"messages": [{"role": "function", "name": "f", "content": "x"}]},
            "messages[0].role",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "messages[0].content[0].type",
        ),
        ({"messages": [{"role": "system", "content": []}]}, "messages[0].content"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        (
            {"stream_options": {"include_usage": True}, "stream": False},
            "stream_options",
        ),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"modalities": ["video"]}, "modalities[0]"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"seed": 1.5}, "seed"),
        ({"retry": {"count": 2, "bogus": 1}}, "retry.bogus"),
        ({"model": None}, "model"),
        ({"messages": None}, "messages"),
    ],
)
def test_bad_input_is_rejected_with_its_path(
    params: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        build_chat_request({"messages": HI, "model": "m", **params})

    assert info.value.field.startswith(field)


def test_wrong_type_is_a_type_error() -> None:
    with pytest.raises(InvalidParameterTypeError) as info:
        build_chat_request({"messages": HI, "model": "m", "tools": "get_time"})

    assert info.value.field == "tools"


def test_create_params_cover_every_body_field() -> None:
    keys = ChatCompletionCreateParams.__required_keys__ | (
        ChatCompletionCreateParams.__optional_keys__
    )
    client_side = {"extra_body", "retries", "timeouts", "extra_headers"}

    assert keys - client_side - {"idempotency_key"} | {"stream"} == set(
        ChatCompletionRequest.__struct_fields__
    )


def test_the_request_struct_has_the_schema_field_order() -> None:
    fields = ChatCompletionRequest.__struct_fields__
    assert fields[:2] == ("messages", "model")
    assert fields[-2:] == ("orq", "stream")


# --- responses -----------------------------------------------------------------

RESPONSE = {
    "id": "01K7M0YTJ6X90VHPRDMM5GEC4R",
    "object": "chat.completion",
    "created": 1760534948,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_f33640a400",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_Xa1",
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": '{"city":"Paris"}',
                        },
                    }
                ],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 14,
        "completion_tokens": 17,
        "total_tokens": 31,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
}


def _variant(**changes: Any) -> bytes:
    body = json.loads(json.dumps(RESPONSE))
    choice = body["choices"][0]
    for key, value in changes.items():
        target, _, name = key.partition("__")
        where = {"top": body, "choice": choice, "message": choice["message"]}[target]
        where = where if target != "tool" else choice["message"]["tool_calls"][0]
        if value is KeyError:
            where.pop(name)
        else:
            where[name] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="as-sent"),
        pytest.param({"choice__finish_reason": "end_turn"}, id="unknown-finish"),
        pytest.param({"choice__finish_reason": KeyError}, id="finish-absent"),
        pytest.param({"message__role": "tool"}, id="unknown-role"),
        pytest.param({"top__created": "2025-01-01"}, id="string-created"),
        pytest.param({"top__usage": None}, id="usage-null"),
        pytest.param({"top__usage": KeyError, "top__object": KeyError}, id="missing"),
        pytest.param({"choice__index": 0.0}, id="float-index"),
    ],
)
def test_lenient_response_decoding(changes: dict[str, Any]) -> None:
    completion = CHAT_COMPLETION_DECODER.decode(_variant(**changes))

    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.name == "get_weather"
    assert calls[0].parse_arguments() == {"city": "Paris"}


def test_unknown_tool_type_is_kept() -> None:
    body = json.loads(json.dumps(RESPONSE))
    body["choices"][0]["message"]["tool_calls"][0]["type"] = "custom"

    completion = CHAT_COMPLETION_DECODER.decode(json.dumps(body))

    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].type == "custom"


def test_float_counts_decode() -> None:
    body = json.loads(json.dumps(RESPONSE))
    body["usage"]["total_tokens"] = 31.0
    body["created"] = 1760534948.0

    completion = CHAT_COMPLETION_DECODER.decode(json.dumps(body))

    assert completion.usage is not None
    assert completion.usage.total_tokens == 31


def test_usage_only_chunk_has_no_choices() -> None:
    chunk = CHAT_CHUNK_DECODER.decode(
        b'{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,'
        b'"total_tokens":3}}'
    )

    assert chunk.choices == []
    assert chunk.usage is not None
    assert chunk.data is chunk


@pytest.mark.parametrize(
    ("payload", "is_error"),
    [
        pytest.param(b'{"error":{"message":"overloaded"}}', True, id="error-object"),
        pytest.param(b'{"choices":[],"error":"overloaded"}', True, id="string-error"),
        pytest.param(b'{"choices":[],"error":null}', False, id="null-error"),
        pytest.param(b'{"choices":[],"id":"error"}', False, id="word-error"),
        pytest.param(b'{"choices":[]}', False, id="no-error"),
    ],
)
@pytest.mark.parametrize("decoder", [CHAT_CHUNK_DECODER, CHAT_COMPLETION_DECODER])
def test_an_error_member_is_told_apart_in_the_same_decode(
    payload: bytes,
    is_error: bool,
    decoder: msgspec.json.Decoder[ChatCompletionChunk | ChatCompletion],
) -> None:
    assert carries_error(decoder.decode(payload)) is is_error


@pytest.mark.parametrize("kind", [ChatCompletionChunk, ChatCompletion])
def test_the_error_member_shows_nowhere_when_absent(
    kind: type[ChatCompletionChunk | ChatCompletion],
) -> None:
    answer = kind(id="x", model="m")

    assert "error" not in repr(answer)
    assert b"error" not in msgspec.json.encode(answer)
    assert answer == kind(id="x", model="m")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("", {}),
        ("{}", {}),
        ('{"a": [1, {"b": null}]}', {"a": [1, {"b": None}]}),
    ],
)
def test_parse_arguments(arguments: str, expected: dict[str, Any]) -> None:
    call = msgspec.convert(
        {"id": "c", "function": {"name": "f", "arguments": arguments}}, ToolCall
    )

    assert call.parse_arguments() == expected


@pytest.mark.parametrize("arguments", ['{"a": 1', "[1, 2]", "null", "7", "{'a': 1}"])
def test_parse_arguments_rejects_what_is_not_an_object(arguments: str) -> None:
    call = msgspec.convert(
        {"id": "c", "function": {"name": "f", "arguments": arguments}}, ToolCall
    )

    with pytest.raises(ToolArgumentsError) as info:
        call.parse_arguments()

    assert isinstance(info.value, ValueError)
    assert (info.value.raw, info.value.tool_call_id, info.value.name) == (
        arguments,
        "c",
        "f",
    )


def test_file_mime_type_is_camel_case_on_the_wire() -> None:
    struct = FilePart(file=File(uri="gs://b/a.pdf", mime_type="application/pdf"))
    as_dict = {
        "type": "file",
        "file": {"uri": "gs://b/a.pdf", "mimeType": "application/pdf"},
    }

    built = [
        build_chat_request(
            {"messages": [{"role": "user", "content": [part]}], "model": "m"}
        )
        for part in (struct, as_dict)
    ]

    assert built[0] == built[1]
    assert b'"file":{"uri":"gs://b/a.pdf","mimeType":"application/pdf"}' in built[0]


def test_an_unencodable_free_form_value_is_a_type_error() -> None:
    with pytest.raises(InvalidParameterTypeError) as info:
        build_chat_request({"messages": HI, "model": "m", "variables": {"x": object()}})

    assert info.value.field == "<body>"


def test_none_leaves_a_non_nullable_field_off() -> None:
    built = build_chat_request(
        {"messages": HI, "model": "m", "name": None, "tools": None, "seed": None}
    )

    assert built == compact({"messages": HI, "model": "m", "seed": None})
