"""orq_async against the official ``orq-ai-sdk``, side by side.

The same call goes through both clients to one fake router; the recorded JSON
bodies must be equal once the documented deviations below are set aside, and
both clients must read the same answers alike. Every deviation is named once,
in the DEVIATIONS section, with its reason.
"""

from __future__ import annotations

import enum
import http
import warnings
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from orq_ai_sdk import Orq as OfficialOrq
from orq_ai_sdk.models import (
    CreateChatCompletionResponseBody,
    CreateCompletionResponseBody,
)
from orq_ai_sdk.types.basemodel import Unset
from orq_ai_sdk.utils.eventstreaming import EventStreamAsync

from orq_async import (
    AsyncOrq,
    Cache,
    Fallback,
    InvalidParameterError,
    Retry,
    ThinkingEnabled,
    Timeout,
)
from orq_async.testing import (
    FakeOrqServer,
    FakeResponse,
    chat_completion_object,
    completion_chunk,
    sse_frame,
)

from ..chat_vectors import STREAMS as CHAT_STREAMS
from ..conftest import API_KEY

MODEL = "openai/gpt-3.5-turbo-instruct"

# --- DEVIATIONS ------------------------------------------------------------------
#
# 1. Defaults the official client fills in and we do not send. Its request
#    models give these fields values of their own (by path; ``*`` is any list
#    item); we send only what the caller set, so the server's defaults apply and
#    an unset field stays distinguishable from one set to the same value.
OFFICIAL_DEFAULTS: dict[str, Any] = {
    "echo": False,
    "frequency_penalty": 0.0,
    "max_tokens": 16,
    "presence_penalty": 0.0,
    "temperature": 1.0,
    "top_p": 1.0,
    "n": 1,
    "stream": False,
    "retry.count": 3,
    "cache.ttl": 3600,
    "load_balancer.models.*.weight": 0.5,
    "orq.retry.count": 3,
    "orq.cache.ttl": 3600,
    "orq.load_balancer.models.*.weight": 0.5,
    "orq.knowledge_bases.*.rerank_config.threshold": 0.0,
    "orq.knowledge_bases.*.rerank_config.top_k": 10,
}
#
# 2. Integers it sends as floats. Its models type retry.count, on_codes,
#    budget_tokens, cache.ttl, call_timeout, temperature... as float, so ``2``
#    goes out as ``2.0``; we keep the caller's int. JSON numbers compare by value.
#
# 3. Prompt forms other than a string. The endpoint accepts a string, a list of
#    strings, a list of token ids or a list of token-id lists; the official
#    client's model types ``prompt`` as a string and refuses the others before
#    sending, so for those we check our body against the caller's value.
NON_STRING_PROMPTS = [
    pytest.param(["a", "b"], id="list-of-str"),
    pytest.param([1, 2, 3], id="tokens"),
    pytest.param([[1, 2], [3]], id="token-lists"),
]
#
# 4. Unknown keys in a nested dict. The official client drops them silently; we
#    refuse them with InvalidParameterError, so a typo is not lost.
UNKNOWN_NESTED_KEY: dict[str, Any] = {"retry": {"count": 2, "cuont": 3}}
# --- end of DEVIATIONS -------------------------------------------------------------


def comparable(
    theirs: Any,
    ours: Any,
    path: str = "",
    defaults: dict[str, Any] = OFFICIAL_DEFAULTS,
) -> Any:
    """The official body with deviation 1 removed: a default it filled in for
    a field the caller did not set (which ``ours`` therefore lacks)."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        kept: dict[str, Any] = {}
        for key, value in theirs.items():
            where = f"{path}.{key}" if path else key
            if (
                key not in ours
                and where in defaults
                and same_json(value, defaults[where])
            ):
                continue
            kept[key] = comparable(value, ours.get(key), where, defaults)
        return kept
    if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
        return [
            comparable(t, o, f"{path}.*", defaults)
            for t, o in zip(theirs, ours, strict=True)
        ]
    return theirs


def same_json(a: Any, b: Any) -> bool:
    """JSON equality, numbers by value (deviation 2); a bool is not a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_json, a, b))
    return type(a) is type(b) and a == b


class Model(str, enum.Enum):
    GPT = MODEL


class Word(str, enum.Enum):
    STOP = "###"


class Tokens(enum.IntEnum):
    SIXTY_FOUR = 64


IDENTITY = {"id": "u-1", "display_name": "Ann", "email": "a@example.com"}
KNOWLEDGE_BASE = {
    "knowledge_id": "kb-1",
    "top_k": 5,
    "threshold": 0.5,
    "search_type": "hybrid_search",
    "filter_by": {"lang": {"eq": "en"}},
    "search_options": {"include_scores": True},
    "rerank_config": {"model": "cohere/rerank", "threshold": 0.1, "top_k": 3},
    "agentic_rag_config": {"model": "openai/gpt-4o"},
    "query": "q",
}

#: Each case: keyword arguments of ``create()`` besides model and prompt.
REQUESTS = [
    pytest.param({}, id="minimal"),
    pytest.param({"echo": True}, id="echo"),
    pytest.param({"echo": None}, id="echo-null"),
    pytest.param({"frequency_penalty": 0.5}, id="frequency_penalty"),
    pytest.param({"frequency_penalty": -2}, id="frequency_penalty-int"),
    pytest.param({"max_tokens": 64}, id="max_tokens"),
    pytest.param({"max_tokens": 64.0}, id="max_tokens-whole-float"),
    pytest.param({"max_tokens": None}, id="max_tokens-null"),
    pytest.param({"max_tokens": Tokens.SIXTY_FOUR}, id="max_tokens-int-enum"),
    pytest.param({"presence_penalty": 1.5}, id="presence_penalty"),
    pytest.param({"seed": 42}, id="seed"),
    pytest.param({"seed": 42.0}, id="seed-whole-float"),
    pytest.param({"stop": "\n"}, id="stop-str"),
    pytest.param({"stop": ["a", "b"]}, id="stop-list"),
    pytest.param({"stop": Word.STOP}, id="stop-enum"),
    pytest.param({"stop": None}, id="stop-null"),
    pytest.param({"temperature": 0.2}, id="temperature"),
    pytest.param({"temperature": 0}, id="temperature-int"),
    pytest.param({"temperature": None}, id="temperature-null"),
    pytest.param({"top_p": 0.9}, id="top_p"),
    pytest.param({"n": 3}, id="n"),
    pytest.param({"n": 3.0}, id="n-whole-float"),
    pytest.param({"user": "user-1"}, id="user"),
    pytest.param({"name": "trace-name"}, id="name"),
    pytest.param({"fallback_on_codes": [429, 503]}, id="fallback_on_codes"),
    pytest.param(
        {"fallback_on_codes": [http.HTTPStatus.TOO_MANY_REQUESTS]},
        id="fallback_on_codes-http-status",
    ),
    pytest.param({"fallbacks": [{"model": "anthropic/claude"}]}, id="fallbacks"),
    pytest.param({"fallbacks": [{"model": Model.GPT}]}, id="fallbacks-enum"),
    pytest.param({"retry": {"count": 3, "on_codes": [500, 502]}}, id="retry"),
    pytest.param({"retry": {"count": 3.0}}, id="retry-whole-float"),
    pytest.param({"cache": {"type": "exact_match", "ttl": 3600}}, id="cache"),
    pytest.param({"cache": {"type": "exact_match"}}, id="cache-no-ttl"),
    pytest.param(
        {
            "load_balancer": {
                "type": "weight_based",
                "models": [{"model": "a/b", "weight": 0.7}, {"model": "c/d"}],
            }
        },
        id="load_balancer",
    ),
    pytest.param({"timeout": {"call_timeout": 30000}}, id="timeout"),
    pytest.param(
        {"thinking": {"type": "enabled", "budget_tokens": 1024}}, id="thinking"
    ),
    pytest.param(
        {"thinking": {"type": "enabled", "budget_tokens": 1024.0}},
        id="thinking-whole-float",
    ),
    pytest.param({"thinking": {"type": "adaptive"}}, id="thinking-adaptive"),
    pytest.param({"thinking": {"type": "disabled"}}, id="thinking-disabled"),
    pytest.param({"thinking": None}, id="thinking-null"),
    pytest.param(
        {
            "plugins": [
                {
                    "id": "pii_redaction",
                    "language": "en",
                    "entities": ["EMAIL"],
                    "threshold": 0.5,
                    "on_failure": "block",
                }
            ]
        },
        id="plugins",
    ),
    pytest.param({"orq": {"name": "n"}}, id="orq-name"),
    pytest.param({"orq": {"identity": IDENTITY}}, id="orq-identity"),
    pytest.param({"orq": {"contact": {"id": "c-1"}}}, id="orq-contact"),
    pytest.param({"orq": {"thread": {"id": "t-1", "tags": ["x"]}}}, id="orq-thread"),
    pytest.param(
        {"orq": {"prompt": {"id": "p-1", "version": "latest"}}}, id="orq-prompt"
    ),
    pytest.param({"orq": {"inputs": {"city": "Paris"}}}, id="orq-inputs"),
    pytest.param({"orq": {"knowledge_bases": [KNOWLEDGE_BASE]}}, id="orq-knowledge"),
    pytest.param(
        {
            "orq": {
                "retry": {"count": 2, "on_codes": [500]},
                "fallback_on_codes": [503],
                "fallbacks": [{"model": "a/b"}],
                "cache": {"type": "exact_match", "ttl": 60},
                "timeout": {"call_timeout": 1000},
            }
        },
        id="orq-gateway",
    ),
    pytest.param(
        {
            "temperature": 0.7,
            "max_tokens": 32,
            "stop": ["\n\n"],
            "retry": {"count": 2},
            "fallbacks": [{"model": "a/b"}],
            "cache": {"type": "exact_match", "ttl": 10},
        },
        id="combined",
    ),
]

#: The same values as typed structs on our side (dicts on the official side).
STRUCT_REQUESTS = [
    pytest.param({"retry": Retry(count=2, on_codes=[500])}, id="retry"),
    pytest.param({"cache": Cache(type="exact_match", ttl=60)}, id="cache"),
    pytest.param({"timeout": Timeout(call_timeout=500)}, id="timeout"),
    pytest.param({"fallbacks": [Fallback(model="a/b")]}, id="fallbacks"),
    pytest.param({"thinking": ThinkingEnabled(budget_tokens=256)}, id="thinking"),
]


@pytest.fixture
async def official(server: FakeOrqServer) -> AsyncIterator[OfficialOrq]:
    async with OfficialOrq(api_key=API_KEY, server_url=server.url) as sdk:
        yield sdk


async def official_body(
    sdk: OfficialOrq, server: FakeOrqServer, stream: bool, **params: Any
) -> dict[str, Any]:
    server.enqueue(FakeResponse.completion("x"))
    with warnings.catch_warnings():
        # Its own DeprecationWarning for the orq fields, from typing_extensions.
        warnings.simplefilter("ignore", DeprecationWarning)
        result = await sdk.router.completions.create_async(stream=stream, **params)
    assert result is not None
    body: dict[str, Any] = msgspec.json.decode(server.last_request.body)
    return body


async def our_body(
    client: AsyncOrq, server: FakeOrqServer, stream: bool, **params: Any
) -> dict[str, Any]:
    server.enqueue(FakeResponse.completion("x"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # orq, orq.contact
        result = await client.router.completions.create(stream=stream, **params)
    if stream:
        await result.aclose()  # type: ignore[union-attr]
    body: dict[str, Any] = msgspec.json.decode(server.last_request.body)
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("params", REQUESTS)
@pytest.mark.parametrize("model", [MODEL, Model.GPT], ids=["model-str", "model-enum"])
async def test_request_bodies_match_the_official_client(
    client: AsyncOrq,
    official: OfficialOrq,
    server: FakeOrqServer,
    params: dict[str, Any],
    stream: bool,
    model: str,
) -> None:
    theirs = await official_body(
        official, server, stream, model=model, prompt="Say hi", **params
    )
    ours = await our_body(
        client, server, stream, model=model, prompt="Say hi", **params
    )

    assert same_json(comparable(theirs, ours), ours), (theirs, ours)
    assert ours.get("stream", False) is stream


@pytest.mark.parametrize("params", STRUCT_REQUESTS)
async def test_typed_structs_give_the_official_clients_body(
    client: AsyncOrq,
    official: OfficialOrq,
    server: FakeOrqServer,
    params: dict[str, Any],
) -> None:
    as_dicts = {k: msgspec.to_builtins(v) for k, v in params.items()}
    theirs = await official_body(
        official, server, False, model=MODEL, prompt="p", **as_dicts
    )
    ours = await our_body(client, server, False, model=MODEL, prompt="p", **params)

    assert same_json(comparable(theirs, ours), ours), (theirs, ours)


@pytest.mark.parametrize("prompt", NON_STRING_PROMPTS)
async def test_non_string_prompts_are_sent_as_given(
    client: AsyncOrq, official: OfficialOrq, server: FakeOrqServer, prompt: Any
) -> None:
    with pytest.raises(Exception, match="prompt"):  # deviation 3: refused there
        await official.router.completions.create_async(model=MODEL, prompt=prompt)
    ours = await our_body(client, server, False, model=MODEL, prompt=prompt)

    assert ours == {"model": MODEL, "prompt": prompt, "stream": False}


async def test_an_unknown_nested_key_is_refused_not_dropped(
    client: AsyncOrq, official: OfficialOrq, server: FakeOrqServer
) -> None:
    theirs = await official_body(
        official, server, False, model=MODEL, prompt="p", **UNKNOWN_NESTED_KEY
    )
    server.clear()

    with pytest.raises(InvalidParameterError) as info:  # deviation 4
        await client.router.completions.create(
            model=MODEL, prompt="p", **UNKNOWN_NESTED_KEY
        )

    assert theirs["retry"] == {"count": 2.0}
    assert info.value.field == "retry.cuont"
    assert server.requests == []


# --- answers: both clients read the same response alike -----------------------------

USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}

JSON_ANSWERS = [
    pytest.param(
        completion_chunk("Hello", finish_reason="stop", usage=USAGE), id="usage"
    ),
    pytest.param(completion_chunk("Hi", finish_reason="length"), id="no-usage"),
    pytest.param(
        {
            **completion_chunk("a", finish_reason="stop"),
            "choices": [
                {"text": "a", "index": 0, "finish_reason": "stop"},
                {"text": "b", "index": 1, "finish_reason": "length"},
            ],
        },
        id="two-choices",
    ),
    pytest.param(
        {**completion_chunk("x", finish_reason="stop"), "extra_field": {"a": 1}},
        id="unknown-field",
    ),
]


@pytest.mark.parametrize("answer", JSON_ANSWERS)
async def test_json_answers_read_alike(
    client: AsyncOrq,
    official: OfficialOrq,
    server: FakeOrqServer,
    answer: dict[str, Any],
) -> None:
    server.enqueue(FakeResponse.json(answer), FakeResponse.json(answer))

    theirs = await official.router.completions.create_async(model=MODEL, prompt="p")
    ours = await client.router.completions.create(model=MODEL, prompt="p")

    assert isinstance(theirs, CreateCompletionResponseBody)
    assert theirs.id == ours.id
    assert theirs.model == ours.model
    assert [(c.text, c.index, c.finish_reason) for c in theirs.choices] == [
        (c.text, c.index, c.finish_reason) for c in ours.choices
    ]
    their_usage = None if theirs.usage is None else theirs.usage.total_tokens
    our_usage = None if ours.usage is None else ours.usage.total_tokens
    assert their_usage == our_usage


def finished_stream(texts: list[str]) -> FakeResponse:
    """A stream whose every chunk has a finish_reason: the official client's
    chunk model refuses ``null`` there, so both clients can read this one."""
    frames = [
        sse_frame(completion_chunk(text, finish_reason="stop", usage=USAGE))
        for text in texts
    ]
    return FakeResponse.events_([*frames, sse_frame("[DONE]")])


@pytest.mark.parametrize(
    "texts", [["Hello", " world"], ["one"], ["a", "b", "c", "d"]], ids=str
)
async def test_streams_read_alike_through_event_data(
    client: AsyncOrq,
    official: OfficialOrq,
    server: FakeOrqServer,
    texts: list[str],
) -> None:
    server.enqueue(finished_stream(texts), finished_stream(texts))

    their_stream = await official.router.completions.create_async(
        model=MODEL, prompt="p", stream=True
    )
    assert isinstance(their_stream, EventStreamAsync)
    async with their_stream as events:
        theirs = [event.data.choices[0].text async for event in events]
    our_stream = await client.router.completions.create(
        model=MODEL, prompt="p", stream=True
    )
    async with our_stream as events_:
        ours = [event.data.choices[0].text async for event in events_]

    assert theirs == ours == texts


# === chat completions ================================================================
#
# --- CHAT DEVIATIONS ---------------------------------------------------------------
#
# C1. Defaults the official client fills in (as deviation 1), by path.
OFFICIAL_CHAT_DEFAULTS: dict[str, Any] = {
    "stream": False,
    "retry.count": 3,
    "cache.ttl": 3600,
    "load_balancer.models.*.weight": 0.5,
    "response_format.json_schema.strict": False,
    "cache_control.ttl": "5m",
    "messages.*.content.*.cache_control.ttl": "5m",
}
#
# C2. Integers it sends as floats (seed, budget_tokens, ...): deviation 2.
#
# C3. ``tools[].type`` and a named ``tool_choice.type``: it sends them only when
#     given; OpenAI-compatible servers require them, so we always send
#     ``"function"``. Calls here leave them out, and their body gets them back.
TOOL_TYPE_PATHS = ("tools.*", "tool_choice")
#
# C4. Unknown keys in a message (and any nested dict): it drops them, we refuse
#     them (as deviation 4).
UNKNOWN_MESSAGE_KEY = [{"role": "user", "content": "Hi", "nmae": "ann"}]
# --- end of CHAT DEVIATIONS --------------------------------------------------------

CHAT_MODEL = "openai/gpt-4o"
HI: list[Any] = [{"role": "user", "content": "Hi"}]
GET_TIME = {"function": {"name": "get_time", "description": "Now"}}

CHAT_REQUESTS = [
    pytest.param({}, id="minimal"),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "No."}]},
                {"role": "user", "content": "Hi", "name": "ann"},
            ],
            "frequency_penalty": 0.5,
            "max_completion_tokens": 256,
            "n": 1,
            "presence_penalty": 0,
            "seed": 42,
            "stop": ["\n\n"],
            "temperature": 1,
            "top_p": 1,
        },
        id="sampling",
    ),
    pytest.param({"max_tokens": None, "temperature": None}, id="nulls"),
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
                    ],
                }
            ]
        },
        id="content-parts",
    ),
    pytest.param(
        {"tools": [GET_TIME], "tool_choice": "auto", "parallel_tool_calls": False},
        id="tools",
    ),
    pytest.param(
        {"tools": [GET_TIME], "tool_choice": {"function": {"name": "get_time"}}},
        id="named-tool-choice",
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
            ]
        },
        id="tool-round-trip",
    ),
    pytest.param(
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}},
            }
        },
        id="json-schema",
    ),
    pytest.param(
        {
            "max_tokens": 4096,
            "reasoning_effort": "low",
            "verbosity": "low",
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        },
        id="reasoning",
    ),
    pytest.param(
        {
            "fallback_on_codes": [429, 503],
            "fallbacks": [{"model": "anthropic/claude-haiku-4-5"}],
            "retry": {"count": 2, "on_codes": [429, 503]},
            "cache": {"type": "exact_match", "ttl": 600},
            "load_balancer": {
                "type": "weight_based",
                "models": [{"model": "openai/gpt-4o", "weight": 0.7}],
            },
            "timeout": {"call_timeout": 30000},
        },
        id="gateway",
    ),
    pytest.param(
        {
            "metadata": {"team": "support"},
            "name": "greeting",
            "variables": {"name": "Ann"},
        },
        id="metadata-and-variables",
    ),
    pytest.param(
        {
            "guardrails": [{"id": "orq_pii_detection", "execute_on": "input"}],
            "plugins": [{"id": "trace_scrubbing", "mask": ["input", "output"]}],
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        id="guardrails-and-plugins",
    ),
    pytest.param(
        {
            "audio": {"voice": "alloy", "format": "wav"},
            "logprobs": True,
            "top_logprobs": 3,
            "modalities": ["text", "audio"],
        },
        id="audio-and-logprobs",
    ),
]


def with_tool_types(body: dict[str, Any]) -> dict[str, Any]:
    """The official body with deviation C3 applied: ``"type": "function"``
    first in each tool and in a named tool choice."""
    fixed = dict(body)
    if isinstance(fixed.get("tools"), list):
        fixed["tools"] = [{"type": "function", **tool} for tool in fixed["tools"]]
    if isinstance(fixed.get("tool_choice"), dict):
        fixed["tool_choice"] = {"type": "function", **fixed["tool_choice"]}
    return fixed


async def official_chat_body(
    sdk: OfficialOrq, server: FakeOrqServer, stream: bool, **params: Any
) -> dict[str, Any]:
    server.enqueue_chat(
        FakeResponse.chat_stream([]) if stream else FakeResponse.chat_completion()
    )
    result = await sdk.router.chat.completions.create_async(stream=stream, **params)
    assert result is not None
    if stream:
        async with result as events:  # type: ignore[union-attr]
            async for _ in events:
                pass
    body: dict[str, Any] = msgspec.json.decode(server.last_request.body)
    return body


async def our_chat_body(
    client: AsyncOrq, server: FakeOrqServer, stream: bool, **params: Any
) -> dict[str, Any]:
    server.enqueue_chat(
        FakeResponse.chat_stream([]) if stream else FakeResponse.chat_completion()
    )
    result = await client.router.chat.completions.create(stream=stream, **params)
    if stream:
        await result.final_completion()  # type: ignore[union-attr]
    body: dict[str, Any] = msgspec.json.decode(server.last_request.body)
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("params", CHAT_REQUESTS)
async def test_chat_request_bodies_match_the_official_client(
    client: AsyncOrq,
    official: OfficialOrq,
    server: FakeOrqServer,
    params: dict[str, Any],
    stream: bool,
) -> None:
    arguments = {"messages": HI, "model": CHAT_MODEL, **params}
    theirs = await official_chat_body(official, server, stream, **arguments)
    ours = await our_chat_body(client, server, stream, **arguments)

    expected = comparable(
        with_tool_types(theirs), ours, defaults=OFFICIAL_CHAT_DEFAULTS
    )
    assert same_json(expected, ours), (theirs, ours)
    assert ours.get("stream", False) is stream


async def test_an_unknown_message_key_is_refused_not_dropped(
    client: AsyncOrq, official: OfficialOrq, server: FakeOrqServer
) -> None:
    theirs = await official_chat_body(
        official, server, False, messages=UNKNOWN_MESSAGE_KEY, model=CHAT_MODEL
    )
    server.clear()

    with pytest.raises(InvalidParameterError) as info:  # deviation C4
        await client.router.chat.completions.create(
            messages=UNKNOWN_MESSAGE_KEY, model=CHAT_MODEL
        )

    assert theirs["messages"] == [{"role": "user", "content": "Hi"}]
    assert info.value.field == "messages[0].nmae"
    assert server.requests == []


CHAT_ANSWERS = [
    pytest.param(chat_completion_object("Hello", usage=USAGE), id="text-and-usage"),
    pytest.param(
        chat_completion_object(
            None,
            tool_calls=[{"id": "call_1", "name": "get_time", "arguments": "{}"}],
        ),
        id="tool-call",
    ),
    pytest.param(
        {**chat_completion_object("x"), "service_tier": "default", "extra": [1]},
        id="unknown-fields",
    ),
]


@pytest.mark.parametrize("answer", CHAT_ANSWERS)
async def test_chat_json_answers_read_alike(
    client: AsyncOrq,
    official: OfficialOrq,
    server: FakeOrqServer,
    answer: dict[str, Any],
) -> None:
    server.enqueue_chat(FakeResponse.json(answer), FakeResponse.json(answer))

    theirs = await official.router.chat.completions.create_async(
        messages=HI, model=CHAT_MODEL
    )
    ours = await client.router.chat.completions.create(messages=HI, model=CHAT_MODEL)

    assert isinstance(theirs, CreateChatCompletionResponseBody)
    assert theirs.id == ours.id
    assert _choice_view(theirs.choices) == _choice_view(ours.choices)
    their_usage = present(theirs.usage)
    our_usage = None if ours.usage is None else ours.usage.total_tokens
    assert (None if their_usage is None else their_usage.total_tokens) == our_usage


def present(value: Any) -> Any:
    """The official models' ``Unset`` (a field the JSON left out) as None."""
    return None if isinstance(value, Unset) else value


def _choice_view(choices: Any) -> list[tuple[Any, ...]]:
    """What a completion's choices say, comparably across the two clients."""
    return [
        (
            present(c.message.content),
            c.finish_reason,
            [
                (t.id, t.function.name, t.function.arguments)
                for t in c.message.tool_calls
            ]
            if present(c.message.tool_calls)
            else None,
        )
        for c in choices
    ]


def _delta_view(choices: Any) -> list[tuple[Any, ...]]:
    """What a chunk's choices say, comparably across the two clients' models."""
    return [
        (
            present(c.delta.content),
            c.finish_reason,
            [
                (
                    t.index,
                    present(t.id),
                    present(t.function.name) if present(t.function) else None,
                )
                for t in c.delta.tool_calls
            ]
            if present(c.delta.tool_calls)
            else None,
        )
        for c in choices
    ]


@pytest.mark.parametrize("name", sorted(CHAT_STREAMS))
async def test_chat_streams_read_alike_through_event_data(
    client: AsyncOrq, official: OfficialOrq, server: FakeOrqServer, name: str
) -> None:
    server.enqueue_chat(
        FakeResponse.events_(CHAT_STREAMS[name]),
        FakeResponse.events_(CHAT_STREAMS[name]),
    )

    their_stream = await official.router.chat.completions.create_async(
        messages=HI, model=CHAT_MODEL, stream=True
    )
    assert isinstance(their_stream, EventStreamAsync)
    async with their_stream as events:
        theirs = [_delta_view(event.data.choices) async for event in events]
    our_stream = await client.router.chat.completions.create(
        messages=HI, model=CHAT_MODEL, stream=True
    )
    async with our_stream as events_:
        ours = [_delta_view(event.data.choices) async for event in events_]

    assert theirs == ours
    assert len(ours) == len(CHAT_STREAMS[name]) - 1
