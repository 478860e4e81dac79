"""create() against the loopback FakeOrqServer: wire bytes, headers, decoding,
validation before I/O, connection reuse, concurrency and event loops.

Every body assertion compares the exact bytes the server received.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import warnings
import weakref
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import aiohttp
import msgspec
import pytest

import orq_async
from orq_async import (
    AsyncOrq,
    Cache,
    ClientClosedError,
    Completion,
    Fallback,
    InvalidParameterError,
    InvalidParameterTypeError,
    LoadBalancer,
    LoadBalancerModel,
    OrqConfig,
    PiiRedactionPlugin,
    PromptReference,
    Retry,
    ThinkingAdaptive,
    ThinkingDisabled,
    ThinkingEnabled,
    Thread,
    Timeout,
)
from orq_async.testing import FakeOrqServer, FakeResponse, completion_chunk
from tests.conftest import API_KEY, FAST_RETRIES

from ..internals import new_idempotency_key

MODEL = "openai/gpt-3.5-turbo-instruct"
BASE = b'{"model":"openai/gpt-3.5-turbo-instruct","prompt":"Say hi"'


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


# --- body encoding: scalar parameters -------------------------------------


async def test_default_body_is_only_model_and_prompt(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(model=MODEL, prompt="Say hi")

    assert server.last_request.body == BASE + b"}"


@pytest.mark.parametrize(
    ("params", "tail"),
    [
        pytest.param({"echo": True}, b',"echo":true}', id="echo"),
        pytest.param({"echo": None}, b',"echo":null}', id="echo-null"),
        pytest.param(
            {"frequency_penalty": 0.5}, b',"frequency_penalty":0.5}', id="freq-penalty"
        ),
        pytest.param(
            {"frequency_penalty": -2}, b',"frequency_penalty":-2}', id="freq-int"
        ),
        pytest.param({"max_tokens": 7}, b',"max_tokens":7}', id="max_tokens"),
        pytest.param(
            {"presence_penalty": 1.5}, b',"presence_penalty":1.5}', id="pres-penalty"
        ),
        pytest.param({"seed": 42}, b',"seed":42}', id="seed"),
        pytest.param({"seed": None}, b',"seed":null}', id="seed-null"),
        pytest.param({"stop": "\n"}, b',"stop":"\\n"}', id="stop-str"),
        pytest.param(
            {"stop": ["a", "b", "c", "d"]}, b',"stop":["a","b","c","d"]}', id="stop-4"
        ),
        pytest.param({"stop": ("x",)}, b',"stop":["x"]}', id="stop-tuple"),
        pytest.param({"temperature": 1}, b',"temperature":1}', id="temperature-int"),
        pytest.param({"temperature": 0.7}, b',"temperature":0.7}', id="temperature"),
        pytest.param({"temperature": 2.0}, b',"temperature":2.0}', id="temp-float"),
        pytest.param({"temperature": None}, b',"temperature":null}', id="temp-null"),
        pytest.param({"top_p": 1}, b',"top_p":1}', id="top_p-int"),
        pytest.param({"top_p": 0.9}, b',"top_p":0.9}', id="top_p"),
        pytest.param({"n": 3}, b',"n":3}', id="n"),
        pytest.param({"user": "u-1"}, b',"user":"u-1"}', id="user"),
        pytest.param({"user": None}, b"}", id="user-none-omitted"),
        pytest.param({"name": "trace"}, b',"name":"trace"}', id="name"),
        pytest.param(
            {"fallback_on_codes": [429, 503]},
            b',"fallback_on_codes":[429,503]}',
            id="fallback_on_codes",
        ),
        pytest.param({"thinking": None}, b',"thinking":null}', id="thinking-null"),
    ],
)
async def test_scalar_parameter_encoding(
    client: AsyncOrq, server: FakeOrqServer, params: dict[str, Any], tail: bytes
) -> None:
    await client.router.completions.create(model=MODEL, prompt="Say hi", **params)

    assert server.last_request.body == BASE + tail


async def test_fields_follow_schema_order_not_call_order(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(
        n=2, model=MODEL, temperature=1, echo=False, prompt="Say hi", max_tokens=5
    )

    assert server.last_request.body == (
        BASE + b',"echo":false,"max_tokens":5,"temperature":1,"n":2}'
    )


async def test_non_ascii_prompt_round_trips(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(model=MODEL, prompt="Héllo ✓")

    assert server.last_request.json == {"model": MODEL, "prompt": "Héllo ✓"}


async def test_stream_true_is_sent(client: AsyncOrq, server: FakeOrqServer) -> None:
    stream = await client.router.completions.create(
        model=MODEL, prompt="Say hi", stream=True, max_tokens=2
    )
    async with stream:
        texts = [chunk.choices[0].text async for chunk in stream]

    assert server.last_request.body == BASE + b',"max_tokens":2,"stream":true}'
    assert texts == ["This", " is"]


async def test_stream_false_is_sent(client: AsyncOrq, server: FakeOrqServer) -> None:
    result = await client.router.completions.create(
        model=MODEL, prompt="Say hi", stream=False
    )

    assert server.last_request.body == BASE + b',"stream":false}'
    assert isinstance(result, Completion)


@pytest.mark.parametrize(
    ("prompt", "encoded"),
    [
        pytest.param("Say hi", b'"Say hi"', id="str"),
        pytest.param(["a", "b"], b'["a","b"]', id="list-str"),
        pytest.param([1, 2, 3], b"[1,2,3]", id="list-int"),
        pytest.param([[1, 2], [3]], b"[[1,2],[3]]", id="list-list-int"),
        pytest.param(("a",), b'["a"]', id="tuple-str"),
    ],
)
async def test_prompt_forms(
    client: AsyncOrq, server: FakeOrqServer, prompt: Any, encoded: bytes
) -> None:
    await client.router.completions.create(model=MODEL, prompt=prompt)

    assert server.last_request.body == (
        b'{"model":"openai/gpt-3.5-turbo-instruct","prompt":' + encoded + b"}"
    )


# --- body encoding: nested parameters, dict vs typed struct ----------------

NESTED_CASES = [
    pytest.param(
        "fallbacks",
        [{"model": "openai/gpt-4o"}],
        [Fallback(model="openai/gpt-4o")],
        b'"fallbacks":[{"model":"openai/gpt-4o"}]',
        id="fallbacks",
    ),
    pytest.param(
        "retry",
        {"count": 2, "on_codes": [429, 500]},
        Retry(count=2, on_codes=[429, 500]),
        b'"retry":{"count":2,"on_codes":[429,500]}',
        id="retry",
    ),
    pytest.param("retry", {}, Retry(), b'"retry":{}', id="retry-empty"),
    pytest.param(
        "cache",
        {"type": "exact_match", "ttl": 60},
        Cache(type="exact_match", ttl=60),
        b'"cache":{"type":"exact_match","ttl":60}',
        id="cache",
    ),
    pytest.param(
        "cache",
        {"type": "exact_match"},
        Cache(type="exact_match"),
        b'"cache":{"type":"exact_match"}',
        id="cache-no-ttl",
    ),
    pytest.param(
        "load_balancer",
        {
            "type": "weight_based",
            "models": [{"model": "a/b", "weight": 0.25}, {"model": "c/d"}],
        },
        LoadBalancer(
            type="weight_based",
            models=[
                LoadBalancerModel(model="a/b", weight=0.25),
                LoadBalancerModel(model="c/d"),
            ],
        ),
        b'"load_balancer":{"type":"weight_based","models":'
        b'[{"model":"a/b","weight":0.25},{"model":"c/d"}]}',
        id="load_balancer",
    ),
    pytest.param(
        "timeout",
        {"call_timeout": 30000},
        Timeout(call_timeout=30000),
        b'"timeout":{"call_timeout":30000}',
        id="timeout",
    ),
    pytest.param(
        "thinking",
        {"type": "enabled", "budget_tokens": 1024},
        ThinkingEnabled(budget_tokens=1024),
        b'"thinking":{"type":"enabled","budget_tokens":1024}',
        id="thinking-enabled",
    ),
    pytest.param(
        "thinking",
        {"type": "enabled", "budget_tokens": 2048, "thinking_level": "high"},
        ThinkingEnabled(budget_tokens=2048, thinking_level="high"),
        b'"thinking":{"type":"enabled","budget_tokens":2048,"thinking_level":"high"}',
        id="thinking-enabled-level",
    ),
    pytest.param(
        "thinking",
        {"type": "disabled"},
        ThinkingDisabled(),
        b'"thinking":{"type":"disabled"}',
        id="thinking-disabled",
    ),
    pytest.param(
        "thinking",
        {"type": "adaptive"},
        ThinkingAdaptive(),
        b'"thinking":{"type":"adaptive"}',
        id="thinking-adaptive",
    ),
    pytest.param(
        "plugins",
        [
            {
                "id": "pii_redaction",
                "entities": ["EMAIL_ADDRESS"],
                "entity_thresholds": {"EMAIL_ADDRESS": 0.5},
                "on_failure": "passthrough",
            }
        ],
        [
            PiiRedactionPlugin(
                entities=["EMAIL_ADDRESS"],
                entity_thresholds={"EMAIL_ADDRESS": 0.5},
                on_failure="passthrough",
            )
        ],
        b'"plugins":[{"id":"pii_redaction","entities":["EMAIL_ADDRESS"],'
        b'"entity_thresholds":{"EMAIL_ADDRESS":0.5},"on_failure":"passthrough"}]',
        id="plugins",
    ),
]


@pytest.mark.parametrize("form", ["dict", "struct"])
@pytest.mark.parametrize(("field", "as_dict", "as_struct", "fragment"), NESTED_CASES)
async def test_nested_parameter_encoding(
    client: AsyncOrq,
    server: FakeOrqServer,
    form: str,
    field: str,
    as_dict: Any,
    as_struct: Any,
    fragment: bytes,
) -> None:
    value = as_dict if form == "dict" else as_struct

    await client.router.completions.create(
        model=MODEL, prompt="Say hi", **{field: value}
    )

    assert server.last_request.body == BASE + b"," + fragment + b"}"


ORQ_DICT = {
    "name": "n",
    "retry": {"count": 1},
    "fallbacks": [{"model": "x/y"}],
    "prompt": {"id": "p1", "version": "latest"},
    "thread": {"id": "t1", "tags": ["a"]},
    "cache": {"type": "exact_match", "ttl": 5},
}
ORQ_STRUCT = OrqConfig(
    name="n",
    retry=Retry(count=1),
    fallbacks=[Fallback(model="x/y")],
    prompt=PromptReference(id="p1", version="latest"),
    thread=Thread(id="t1", tags=["a"]),
    cache=Cache(type="exact_match", ttl=5),
)


@pytest.mark.parametrize("value", [ORQ_DICT, ORQ_STRUCT], ids=["dict", "struct"])
async def test_orq_container_is_encoded_and_deprecated(
    client: AsyncOrq, server: FakeOrqServer, value: Any
) -> None:
    with pytest.warns(DeprecationWarning, match="'orq' parameter is deprecated"):
        await client.router.completions.create(model=MODEL, prompt="Say hi", orq=value)

    assert server.last_request.body == BASE + (
        b',"orq":{"name":"n","retry":{"count":1},"fallbacks":[{"model":"x/y"}],'
        b'"prompt":{"id":"p1","version":"latest"},"thread":{"id":"t1","tags":["a"]},'
        b'"cache":{"type":"exact_match","ttl":5}}}'
    )


class _Name(str):
    pass


async def test_str_subclasses_are_sent_as_plain_strings(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(
        model=_Name("m"), prompt=_Name("p"), user=_Name("u"), stop=[_Name("x")]
    )
    assert server.last_request.body == (
        b'{"model":"m","prompt":"p","stop":["x"],"user":"u"}'
    )


async def test_orq_deprecation_warning_points_at_the_caller(
    client: AsyncOrq,
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        await client.router.completions.create(model="m", prompt="p", orq={"name": "x"})
    assert record[0].filename == __file__


# --- headers ---------------------------------------------------------------


async def test_default_headers(client: AsyncOrq, server: FakeOrqServer) -> None:
    await client.router.completions.create(model=MODEL, prompt="Say hi")

    headers = lower_headers(server.last_request.headers)
    assert server.last_request.method == "POST"
    assert server.last_request.path == "/v2/router/completions"
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == f"orq-async/{orq_async.__version__}"
    assert headers["x-orq-attempt"] == "1"
    assert len(headers["idempotency-key"]) >= 16


async def test_stream_accepts_event_stream(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    stream = await client.router.completions.create(
        model=MODEL, prompt="Say hi", stream=True
    )
    await stream.aclose()

    assert lower_headers(server.last_request.headers)["accept"] == "text/event-stream"


async def test_bearer_prefix_not_doubled() -> None:
    async with (
        FakeOrqServer() as server,
        AsyncOrq(api_key=f"bearer {API_KEY}", server_url=server.url) as orq,
    ):
        await orq.router.completions.create(model=MODEL, prompt="x")

    assert server.last_request.headers["Authorization"] == f"bearer {API_KEY}"


async def test_callable_api_key_is_called_per_request(server: FakeOrqServer) -> None:
    calls: list[int] = []

    def key() -> str:
        calls.append(1)
        return API_KEY

    async with AsyncOrq(api_key=key, server_url=server.url) as orq:
        await orq.router.completions.create(model=MODEL, prompt="x")
        await orq.router.completions.create(model=MODEL, prompt="x")

    assert len(calls) == 2
    assert lower_headers(server.last_request.headers)["authorization"] == (
        f"Bearer {API_KEY}"
    )


def sent_headers_recorder() -> tuple[aiohttp.TraceConfig, list[Any]]:
    """A TraceConfig that records the exact header multidict aiohttp sent."""
    sent: list[Any] = []

    async def on_sent(
        _session: aiohttp.ClientSession,
        _ctx: SimpleNamespace,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        sent.append(params.headers)

    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(on_sent)
    return config, sent


async def test_extra_headers_override_case_insensitively(
    server: FakeOrqServer,
) -> None:
    config, sent = sent_headers_recorder()
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, trace_configs=[config]
    ) as orq:
        await orq.router.completions.create(
            model=MODEL,
            prompt="x",
            extra_headers={"user-agent": "mine/1.0", "ACCEPT": "*/*", "X-Extra": "1"},
        )

    assert sent[0].getall("User-Agent") == ["mine/1.0"]
    assert sent[0].getall("Accept") == ["*/*"]
    headers = lower_headers(server.last_request.headers)
    assert headers["user-agent"] == "mine/1.0"
    assert headers["accept"] == "*/*"
    assert headers["x-extra"] == "1"


async def test_default_headers_then_extra_headers(server: FakeOrqServer) -> None:
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        default_headers={"X-Team": "a", "x-both": "client"},
    ) as orq:
        await orq.router.completions.create(
            model=MODEL, prompt="x", extra_headers={"X-BOTH": "call"}
        )

    headers = lower_headers(server.last_request.headers)
    assert headers["x-team"] == "a"
    assert headers["x-both"] == "call"


async def test_header_with_line_break_is_rejected(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        await client.router.completions.create(
            model=MODEL, prompt="x", extra_headers={"X-Evil": "a\r\nInjected: 1"}
        )

    assert info.value.field == "extra_headers"
    assert server.requests == []


async def test_idempotency_key_constant_and_attempt_increments(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.error(503, "busy"), FakeResponse.error(502, "bad gw"))

    result = await client.router.completions.create(model=MODEL, prompt="x")

    assert result.choices[0].text
    headers = [lower_headers(r.headers) for r in server.requests]
    assert [h["x-orq-attempt"] for h in headers] == ["1", "2", "3"]
    assert len({h["idempotency-key"] for h in headers}) == 1
    assert len({r.body for r in server.requests}) == 1


async def test_extra_headers_idempotency_key_overrides(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(
        model=MODEL, prompt="x", extra_headers={"idempotency-key": "from-extra"}
    )

    assert lower_headers(server.last_request.headers)["idempotency-key"] == "from-extra"


async def test_explicit_idempotency_key_is_sent(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(
        model=MODEL, prompt="x", idempotency_key="my-key"
    )

    assert lower_headers(server.last_request.headers)["idempotency-key"] == "my-key"


async def test_each_call_gets_a_new_idempotency_key(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(model=MODEL, prompt="x")
    await client.router.completions.create(model=MODEL, prompt="x")

    keys = {lower_headers(r.headers)["idempotency-key"] for r in server.requests}
    assert len(keys) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_workers_generate_different_idempotency_keys() -> None:
    # Pre-forking servers import the app, then fork: every worker must still
    # draw keys of its own (a fresh subprocess, as forking pytest is unsafe).
    script = f"""
import os
from {new_idempotency_key.__module__} import {new_idempotency_key.__name__} as new_key
new_key()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, new_key().encode())
    os._exit(0)
os.waitpid(pid, 0)
print(new_key(), os.read(read, 64).decode())
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    parent, child = out.stdout.split()
    assert len(parent) == len(child) == 32
    assert parent != child


# --- configuration ---------------------------------------------------------


async def test_trailing_slash_server_url(server: FakeOrqServer) -> None:
    async with AsyncOrq(api_key=API_KEY, server_url=server.url + "/") as orq:
        await orq.router.completions.create(model=MODEL, prompt="x")

    assert server.last_request.path == "/v2/router/completions"


async def test_env_vars_configure_the_client(
    server: FakeOrqServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_API_KEY", API_KEY)
    monkeypatch.setenv("ORQ_SERVER_URL", server.url + "/")

    async with AsyncOrq() as orq:
        result = await orq.router.completions.create(model=MODEL, prompt="x")

    assert orq.server_url == server.url
    assert result.choices
    assert server.last_request.path == "/v2/router/completions"
    assert server.last_request.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_constructor_wins_over_env(
    server: FakeOrqServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORQ_API_KEY", "wrong-key")
    monkeypatch.setenv("ORQ_SERVER_URL", "http://127.0.0.1:9")

    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        await orq.router.completions.create(model=MODEL, prompt="x")

    assert server.last_request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_missing_api_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORQ_API_KEY", raising=False)

    with pytest.raises(InvalidParameterError) as info:
        AsyncOrq(server_url="http://127.0.0.1:9")

    assert info.value.field == "api_key"


@pytest.mark.parametrize("url", ["ftp://x", "127.0.0.1:80", "localhost"])
def test_bad_server_url_is_rejected(url: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncOrq(api_key=API_KEY, server_url=url)

    assert info.value.field == "server_url"


@pytest.mark.parametrize(
    "url",
    ["http://user:pw@127.0.0.1:1", "http://127.0.0.1:1/?a=b", "http://h/#x", "ftp://h"],
)
def test_server_url_with_credentials_query_or_other_scheme_is_rejected(
    url: str,
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncOrq(api_key=API_KEY, server_url=url)
    assert "pw" not in str(info.value)


# --- response decoding -----------------------------------------------------

FULL_RESPONSE = {
    "id": "01JKQ3V6YV4T8M2W9ZC1H5N7PB",
    "object": "text_completion",
    "created": 1735689600,
    "model": "gpt-3.5-turbo-instruct",
    "system_fingerprint": "fp_3f1c2b9a77",
    "choices": [
        {
            "text": "\n\nHello!",
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 4,
        "completion_tokens": 10,
        "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 1, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 2,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 3,
            "rejected_prediction_tokens": 4,
        },
    },
    "brand_new_field": {"nested": [1, 2]},
}


async def test_decodes_full_response_with_usage_details(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.json(FULL_RESPONSE, headers={"x-request-id": "r-1"}))

    result = await client.router.completions.create(model=MODEL, prompt="x")

    assert result.id == "01JKQ3V6YV4T8M2W9ZC1H5N7PB"
    assert result.object == "text_completion"
    assert result.created == 1735689600
    assert result.model == "gpt-3.5-turbo-instruct"
    assert result.system_fingerprint == "fp_3f1c2b9a77"
    assert result.choices[0].text == "\n\nHello!"
    assert result.choices[0].index == 0
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (4, 10)
    assert result.usage.total_tokens == 14
    assert result.usage.prompt_tokens_details is not None
    assert result.usage.prompt_tokens_details.cached_tokens == 1
    assert result.usage.prompt_tokens_details.cache_creation_tokens is None
    details = result.usage.completion_tokens_details
    assert details is not None
    assert details.reasoning_tokens == 2
    assert details.accepted_prediction_tokens == 3
    assert details.rejected_prediction_tokens == 4


@pytest.mark.parametrize(
    ("finish_reason", "expected"),
    [
        pytest.param("length", "length", id="length"),
        pytest.param(None, None, id="null"),
        pytest.param("something_new", "something_new", id="unknown"),
    ],
)
async def test_lenient_finish_reason(
    client: AsyncOrq,
    server: FakeOrqServer,
    finish_reason: str | None,
    expected: str | None,
) -> None:
    server.enqueue(
        FakeResponse.json(completion_chunk("t", finish_reason=finish_reason))
    )

    result = await client.router.completions.create(model=MODEL, prompt="x")

    assert result.choices[0].finish_reason == expected


async def test_missing_usage_and_optional_fields(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        FakeResponse.raw(
            b'{"id":"c1","choices":[{"text":"hi","index":0.0,"finish_reason":"stop"}],'
            b'"created":"1700000000","extra":null}',
            content_type="application/json; charset=utf-8",
        )
    )

    result = await client.router.completions.create(model=MODEL, prompt="x")

    assert result.usage is None
    assert result.id == "c1"
    assert result.choices[0].index == 0
    assert result.created == "1700000000"
    assert result.system_fingerprint is None


async def test_null_usage_details(client: AsyncOrq, server: FakeOrqServer) -> None:
    body = completion_chunk("t", finish_reason="stop")
    body["usage"] = {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    server.enqueue(FakeResponse.json(body))

    result = await client.router.completions.create(model=MODEL, prompt="x")

    assert result.usage is not None
    assert result.usage.prompt_tokens_details is None
    assert result.usage.completion_tokens_details is None


async def test_invalid_json_200_is_a_decode_error(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.raw(b"{not json", headers={"x-request-id": "rid"}))

    with pytest.raises(orq_async.ResponseDecodeError) as info:
        await client.router.completions.create(model=MODEL, prompt="x")

    assert info.value.request_id == "rid"
    assert info.value.raw == b"{not json"


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(
            FakeResponse.raw(b"<html>maintenance</html>", content_type="text/html"),
            id="html",
        ),
        pytest.param(
            FakeResponse.raw(
                b'{"id":"c","choices":[]}', content_type="text/plain; charset=utf-8"
            ),
            id="json-as-text-plain",
        ),
    ],
)
async def test_non_json_200_is_unexpected_content_type(
    client: AsyncOrq, server: FakeOrqServer, response: FakeResponse
) -> None:
    server.enqueue(response)

    with pytest.raises(orq_async.UnexpectedContentTypeError) as info:
        await client.router.completions.create(model=MODEL, prompt="x")

    assert info.value.status_code == 200


# --- validation before I/O --------------------------------------------------

INVALID = [
    pytest.param({"model": None}, "model", InvalidParameterError, id="model-none"),
    pytest.param({"model": ""}, "model", InvalidParameterError, id="model-empty"),
    pytest.param({"model": 3}, "model", InvalidParameterTypeError, id="model-int"),
    pytest.param({"prompt": None}, "prompt", InvalidParameterError, id="prompt-none"),
    pytest.param({"prompt": []}, "prompt", InvalidParameterError, id="prompt-empty"),
    pytest.param({"prompt": 5}, "prompt", InvalidParameterTypeError, id="prompt-int"),
    pytest.param(
        {"prompt": ["a", 1]}, "prompt", InvalidParameterTypeError, id="prompt-mixed"
    ),
    pytest.param(
        {"prompt": [[1], 2]}, "prompt", InvalidParameterTypeError, id="prompt-mixed-2"
    ),
    pytest.param(
        {"prompt": [True]}, "prompt", InvalidParameterTypeError, id="prompt-bool"
    ),
    pytest.param(
        {"prompt": [1.5]}, "prompt", InvalidParameterTypeError, id="prompt-float"
    ),
    pytest.param(
        {"temperature": "hot"}, "temperature", InvalidParameterTypeError, id="temp-str"
    ),
    pytest.param(
        {"temperature": True}, "temperature", InvalidParameterTypeError, id="temp-bool"
    ),
    pytest.param({"temperature": 2.01}, "temperature", InvalidParameterError, id="t>2"),
    pytest.param(
        {"temperature": 3}, "temperature", InvalidParameterError, id="t>2-int"
    ),
    pytest.param({"temperature": -0.1}, "temperature", InvalidParameterError, id="t<0"),
    pytest.param(
        {"temperature": float("nan")}, "temperature", InvalidParameterError, id="t-nan"
    ),
    pytest.param(
        {"frequency_penalty": 2.5},
        "frequency_penalty",
        InvalidParameterError,
        id="fp>2",
    ),
    pytest.param(
        {"frequency_penalty": -3},
        "frequency_penalty",
        InvalidParameterError,
        id="fp<-2",
    ),
    pytest.param(
        {"presence_penalty": -2.1},
        "presence_penalty",
        InvalidParameterError,
        id="pp<-2",
    ),
    pytest.param(
        {"presence_penalty": 3}, "presence_penalty", InvalidParameterError, id="pp>2"
    ),
    pytest.param({"top_p": 1.01}, "top_p", InvalidParameterError, id="top_p>1"),
    pytest.param({"top_p": -1}, "top_p", InvalidParameterError, id="top_p<0"),
    pytest.param({"n": 0}, "n", InvalidParameterError, id="n<1"),
    pytest.param({"n": 1.5}, "n", InvalidParameterTypeError, id="n-float"),
    pytest.param({"max_tokens": 0}, "max_tokens", InvalidParameterError, id="mt<1"),
    pytest.param(
        {"max_tokens": "16"}, "max_tokens", InvalidParameterTypeError, id="mt-str"
    ),
    pytest.param({"seed": 1.5}, "seed", InvalidParameterTypeError, id="seed-float"),
    pytest.param({"echo": "yes"}, "echo", InvalidParameterTypeError, id="echo-str"),
    pytest.param(
        {"stop": ["a", "b", "c", "d", "e"]}, "stop", InvalidParameterError, id="stop>4"
    ),
    pytest.param({"stop": [1]}, "stop[0]", InvalidParameterTypeError, id="stop-int"),
    pytest.param({"user": 1}, "user", InvalidParameterTypeError, id="user-int"),
    pytest.param(
        {"cache": {"type": "exact_match", "ttl": 0}},
        "cache.ttl",
        InvalidParameterError,
        id="ttl<1",
    ),
    pytest.param(
        {"cache": {"type": "exact_match", "ttl": 259201}},
        "cache.ttl",
        InvalidParameterError,
        id="ttl>3d",
    ),
    pytest.param({"cache": {}}, "cache", InvalidParameterError, id="cache-no-type"),
    pytest.param(
        {"cache": {"type": "semantic"}},
        "cache.type",
        InvalidParameterError,
        id="cache-type",
    ),
    pytest.param(
        {"retry": {"count": 0}}, "retry.count", InvalidParameterError, id="rc<1"
    ),
    pytest.param(
        {"retry": {"count": 6}}, "retry.count", InvalidParameterError, id="rc>5"
    ),
    pytest.param(
        {"retry": {"on_codes": [99]}},
        "retry.on_codes[0]",
        InvalidParameterError,
        id="c<100",
    ),
    pytest.param(
        {"retry": {"on_codes": [429, 600]}},
        "retry.on_codes[1]",
        InvalidParameterError,
        id="code>599",
    ),
    pytest.param(
        {"retry": {"on_codes": []}},
        "retry.on_codes",
        InvalidParameterError,
        id="codes-empty",
    ),
    pytest.param(
        {"retry": {"cnt": 1}}, "retry.cnt", InvalidParameterError, id="retry-typo"
    ),
    pytest.param(
        {"fallback_on_codes": [399]},
        "fallback_on_codes[0]",
        InvalidParameterError,
        id="fallback-code",
    ),
    pytest.param(
        {"fallbacks": [{"modle": "x"}]},
        "fallbacks[0].modle",
        InvalidParameterError,
        id="fallback-typo",
    ),
    pytest.param(
        {"thinking": {"type": "sometimes"}},
        "thinking.type",
        InvalidParameterError,
        id="thinking-type",
    ),
    pytest.param(
        {"thinking": {"type": "enabled"}},
        "thinking",
        InvalidParameterError,
        id="no-budget",
    ),
    pytest.param(
        {"load_balancer": {"type": "round_robin", "models": []}},
        "load_balancer.type",
        InvalidParameterError,
        id="lb-type",
    ),
    pytest.param(
        {
            "load_balancer": {
                "type": "weight_based",
                "models": [{"model": "a", "weight": 0}],
            }
        },
        "load_balancer.models[0].weight",
        InvalidParameterError,
        id="lb-weight",
    ),
    pytest.param(
        {"timeout": {"call_timeout": 0}},
        "timeout.call_timeout",
        InvalidParameterError,
        id="call-timeout",
    ),
    pytest.param(
        {"timeout": {}}, "timeout", InvalidParameterError, id="call-timeout-missing"
    ),
    pytest.param(
        {"plugins": [{"id": "other"}]},
        "plugins[0].id",
        InvalidParameterError,
        id="plugin-id",
    ),
    pytest.param(
        {"temprature": 1}, "temprature", InvalidParameterError, id="unknown-kw"
    ),
    pytest.param(
        {"stream": "yes"}, "stream", InvalidParameterTypeError, id="stream-str"
    ),
    pytest.param({"timeouts": -1}, "timeouts", InvalidParameterError, id="timeouts<0"),
    pytest.param(
        {"timeouts": "5"}, "timeouts", InvalidParameterTypeError, id="timeouts-str"
    ),
    pytest.param(
        {"retries": "2"}, "retries", InvalidParameterTypeError, id="retries-str"
    ),
    pytest.param(
        {"retries": -1}, "retries.max_retries", InvalidParameterError, id="retries<0"
    ),
    pytest.param(
        {"extra_headers": {"X-N": 1}},
        "extra_headers",
        InvalidParameterTypeError,
        id="header-int",
    ),
]


@pytest.mark.parametrize(("params", "field", "error"), INVALID)
async def test_invalid_arguments_send_no_request(
    client: AsyncOrq,
    server: FakeOrqServer,
    params: dict[str, Any],
    field: str,
    error: type[InvalidParameterError],
) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "prompt": "x", **params}

    with pytest.raises(InvalidParameterError) as info:
        await client.router.completions.create(**kwargs)

    assert type(info.value) is error
    assert info.value.field == field
    assert repr(field) in str(info.value)
    assert server.requests == []


async def test_type_errors_are_also_builtin_type_errors(client: AsyncOrq) -> None:
    with pytest.raises(TypeError):
        await client.router.completions.create(model=MODEL, prompt="x", n="1")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="'n'"):
        await client.router.completions.create(model=MODEL, prompt="x", n=0)


async def test_missing_required_keyword(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    with pytest.raises(TypeError):
        await client.router.completions.create(model=MODEL)  # type: ignore[call-overload]

    assert server.requests == []


async def test_closed_client_sends_nothing(server: FakeOrqServer) -> None:
    orq = AsyncOrq(api_key=API_KEY, server_url=server.url)
    await orq.aclose()

    with pytest.raises(orq_async.ClientClosedError):
        await orq.router.completions.create(model=MODEL, prompt="x")

    assert orq.is_closed
    assert server.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"idempotency_key": "a\nb"}, id="idempotency-key-newline"),
        pytest.param({"idempotency_key": ""}, id="idempotency-key-empty"),
        pytest.param({"extra_headers": {"X-A": "a\x00b"}}, id="header-nul"),
        pytest.param({"extra_headers": {"X-A": "a\x07b"}}, id="header-bell"),
        pytest.param({"extra_headers": {"Bad Name": "v"}}, id="header-name"),
    ],
)
async def test_unsendable_header_values_fail_before_io(
    client: AsyncOrq, server: FakeOrqServer, kwargs: dict[str, object]
) -> None:
    with pytest.raises(InvalidParameterError):
        await client.router.completions.create(model="m", prompt="p", **kwargs)  # type: ignore[call-overload]
    assert server.requests == []


async def test_a_key_with_a_control_character_is_rejected(
    server: FakeOrqServer,
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncOrq(api_key="sk-x\ny", server_url=server.url)
    assert "sk-x" not in str(info.value)

    async with AsyncOrq(api_key=lambda: "sk-x\ry", server_url=server.url) as orq:
        with pytest.raises(InvalidParameterError):
            await orq.router.completions.create(model="m", prompt="p")
    async with AsyncOrq(api_key=lambda: None, server_url=server.url) as orq:  # type: ignore[arg-type,return-value]
        with pytest.raises(InvalidParameterTypeError):
            await orq.router.completions.create(model="m", prompt="p")
    assert server.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"orq": {"inputs": {"x": object()}}}, id="unencodable"),
        pytest.param({"extra_headers": [("X-A", "1")]}, id="headers-not-mapping"),
        pytest.param({"extra_headers": {"Content-Length": "3"}}, id="framing-header"),
        pytest.param({"fallback_on_codes": [500, 500]}, id="duplicate-codes"),
        pytest.param(
            {
                "orq": {
                    "knowledge_bases": [
                        {"knowledge_id": "k", "rerank_config": {"modle": "x"}}
                    ]
                }
            },
            id="kb-typo",
        ),
        pytest.param({"cache": {1: 2}}, id="non-str-key"),
    ],
)
async def test_more_invalid_arguments_fail_before_io(
    client: AsyncOrq, server: FakeOrqServer, kwargs: dict[str, object]
) -> None:
    with (
        warnings.catch_warnings(),
        pytest.raises(InvalidParameterError) as info,
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        await client.router.completions.create(model="m", prompt="p", **kwargs)  # type: ignore[call-overload]
    assert info.value.field != "<body>" or "cannot be encoded" in str(info.value)
    assert server.requests == []


async def test_no_request_is_sent_after_aclose_during_a_pending_call(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.completion("late", delay=0.5))
    orq = AsyncOrq(api_key=API_KEY, server_url=server.url)
    task = asyncio.ensure_future(orq.router.completions.create(model="m", prompt="p"))
    await asyncio.sleep(0.1)
    await orq.aclose()
    with pytest.raises(ClientClosedError):
        await task
    await asyncio.sleep(0.6)
    assert [r.headers["X-Orq-Attempt"] for r in server.requests] == ["1"]


# --- connections, concurrency, event loops ---------------------------------


async def test_sequential_requests_reuse_connections(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    for _ in range(200):
        await client.router.completions.create(model=MODEL, prompt="x", max_tokens=1)

    assert len(server.requests) == 200
    assert len(server.connections) <= 4


async def test_streams_read_to_the_end_reuse_connections(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    for _ in range(20):
        stream = await client.router.completions.create(
            model=MODEL, prompt="x", max_tokens=2, stream=True
        )
        async with stream:
            assert [c.choices[0].text async for c in stream] == ["This", " is"]

    assert len(server.connections) <= 4


async def test_many_concurrent_requests_succeed(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    async def one(i: int) -> Completion:
        return await client.router.completions.create(
            model=MODEL, prompt=str(i), max_tokens=1, retries=0
        )

    results = await asyncio.gather(*(one(i) for i in range(1000)))

    assert len(results) == 1000
    assert all(r.choices[0].text == "This" for r in results)
    assert sorted(r.json["prompt"] for r in server.requests) == sorted(
        str(i) for i in range(1000)
    )


def test_one_client_on_two_event_loops(threaded_server: FakeOrqServer) -> None:
    orq = AsyncOrq(
        api_key=API_KEY, server_url=threaded_server.url, retries=FAST_RETRIES
    )

    async def use(prompt: str) -> str:
        result = await orq.router.completions.create(
            model=MODEL, prompt=prompt, max_tokens=1
        )
        return result.choices[0].text

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = asyncio.run(use("one"))
        second = asyncio.run(use("two"))
        asyncio.run(orq.aclose())
        gc.collect()

    assert (first, second) == ("This", "This")
    assert [r.json["prompt"] for r in threaded_server.requests] == ["one", "two"]
    assert [str(w.message) for w in caught] == []


def test_finished_event_loops_are_not_kept_alive(
    threaded_server: FakeOrqServer,
) -> None:
    # Each loop gets its own session, pool and timer; none of them may outlive
    # the loop once the client was closed on it (a service that runs
    # asyncio.run() per job would otherwise keep every loop it ever ran).
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def use() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        async with AsyncOrq(
            api_key=API_KEY,
            server_url=threaded_server.url,
            timeouts=orq_async.Timeouts(deadline=30.0),
        ) as orq:
            stream = await orq.router.completions.create(
                model=MODEL, prompt="Hi", max_tokens=2, stream=True
            )
            async with stream:
                await stream.text()

    for _ in range(3):
        asyncio.run(use())
    gc.collect()

    assert [ref() for ref in loops] == [None, None, None]


def test_unused_client_needs_no_loop() -> None:
    orq = AsyncOrq(api_key=API_KEY, server_url="http://127.0.0.1:9")

    assert repr(orq) == "AsyncOrq(server_url='http://127.0.0.1:9')"
    assert not orq.is_closed


def test_typed_struct_round_trips_through_msgspec() -> None:
    # The typed structs are plain msgspec structs: users can build them from JSON.
    cache = msgspec.json.decode(b'{"type":"exact_match","ttl":5}', type=Cache)

    assert cache == Cache(type="exact_match", ttl=5)
