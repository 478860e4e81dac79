"""build_request, decode_completion and parse_error_body: pure, no I/O."""

from __future__ import annotations

import warnings
from typing import Any

import msgspec
import pytest

from orq_async import (
    Cache,
    CompletionRequest,
    ErrorBody,
    Fallback,
    Identity,
    InvalidParameterError,
    InvalidParameterTypeError,
    KnowledgeBase,
    OrqConfig,
    ResponseDecodeError,
    Retry,
    ThinkingEnabled,
)
from orq_async._codec import build_request, decode_completion, parse_error_body

BASE = {"model": "m/x", "prompt": "hi"}


def build(**params: Any) -> bytes:
    return build_request({**BASE, **params})


def test_minimal_body() -> None:
    assert build() == b'{"model":"m/x","prompt":"hi"}'


def test_integers_stay_integers_and_floats_stay_floats() -> None:
    body = build(temperature=1, top_p=1.0, frequency_penalty=0, presence_penalty=-1.5)

    assert body == (
        b'{"model":"m/x","prompt":"hi","frequency_penalty":0,'
        b'"presence_penalty":-1.5,"temperature":1,"top_p":1.0}'
    )


def test_explicit_none_on_every_nullable_field_is_null() -> None:
    nullable = (
        "echo",
        "frequency_penalty",
        "max_tokens",
        "presence_penalty",
        "seed",
        "stop",
        "temperature",
        "top_p",
        "n",
        "thinking",
    )

    body = build(**dict.fromkeys(nullable))

    assert msgspec.json.decode(body) == {**BASE, **dict.fromkeys(nullable)}


@pytest.mark.parametrize(
    "field",
    [
        "user",
        "name",
        "fallback_on_codes",
        "fallbacks",
        "retry",
        "cache",
        "load_balancer",
        "timeout",
        "plugins",
        "stream",
    ],
)
def test_none_on_non_nullable_field_is_omitted(field: str) -> None:
    assert build(**{field: None}) == b'{"model":"m/x","prompt":"hi"}'


def test_none_orq_is_omitted_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build(orq=None) == b'{"model":"m/x","prompt":"hi"}'


def test_every_top_level_field_in_schema_order() -> None:
    params = {
        "stream": False,
        "thinking": {"type": "disabled"},
        "timeout": {"call_timeout": 1},
        "load_balancer": {"type": "weight_based", "models": [{"model": "a"}]},
        "cache": {"type": "exact_match"},
        "retry": {"count": 1},
        "fallbacks": [{"model": "b"}],
        "fallback_on_codes": [500],
        "name": "n",
        "user": "u",
        "n": 1,
        "top_p": 0.5,
        "temperature": 0,
        "stop": "s",
        "seed": -1,
        "presence_penalty": 0,
        "max_tokens": 1,
        "frequency_penalty": 0,
        "echo": True,
        "plugins": [{"id": "pii_redaction"}],
    }

    body = build(**params)

    assert body == (
        b'{"model":"m/x","prompt":"hi","echo":true,"frequency_penalty":0,'
        b'"max_tokens":1,"presence_penalty":0,"seed":-1,"stop":"s","temperature":0,'
        b'"top_p":0.5,"n":1,"user":"u","name":"n","fallback_on_codes":[500],'
        b'"fallbacks":[{"model":"b"}],"retry":{"count":1},'
        b'"cache":{"type":"exact_match"},'
        b'"load_balancer":{"type":"weight_based","models":[{"model":"a"}]},'
        b'"timeout":{"call_timeout":1},"thinking":{"type":"disabled"},'
        b'"plugins":[{"id":"pii_redaction"}],"stream":false}'
    )


def test_nested_defaults_are_not_materialised() -> None:
    body = build(
        retry={},
        cache={"type": "exact_match"},
        load_balancer={"type": "weight_based", "models": [{"model": "a"}]},
    )

    decoded = msgspec.json.decode(body)
    assert decoded["retry"] == {}
    assert decoded["cache"] == {"type": "exact_match"}
    assert decoded["load_balancer"]["models"] == [{"model": "a"}]


def test_struct_and_dict_may_be_mixed_inside_lists() -> None:
    body = build(fallbacks=[Fallback(model="a"), {"model": "b"}])

    assert body.endswith(b'"fallbacks":[{"model":"a"},{"model":"b"}]}')


def test_orq_container_with_nested_identity_and_knowledge_base() -> None:
    orq = OrqConfig(
        identity=Identity(id="u1", email="a@b.c", metadata=[{"k": "v"}]),
        knowledge_bases=[KnowledgeBase(knowledge_id="kb", top_k=None, threshold=0.5)],
        inputs={"var": 1},
    )

    with pytest.warns(DeprecationWarning):
        body = build(orq=orq)

    assert body.endswith(
        b'"orq":{"identity":{"id":"u1","email":"a@b.c","metadata":[{"k":"v"}]},'
        b'"inputs":{"var":1},'
        b'"knowledge_bases":[{"knowledge_id":"kb","top_k":null,"threshold":0.5}]}}'
    )


def test_orq_dict_warns() -> None:
    with pytest.warns(DeprecationWarning, match="deprecated"):
        build(orq={})


def test_output_is_a_valid_completion_request() -> None:
    body = build(retry=Retry(count=2), cache=Cache(type="exact_match", ttl=10))

    request = msgspec.json.decode(body, type=CompletionRequest)

    assert request.retry == Retry(count=2)
    assert request.cache == Cache(type="exact_match", ttl=10)


# --- error field naming ------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "error", "problem"),
    [
        pytest.param(
            {"model": None}, "model", InvalidParameterError, "required", id="model"
        ),
        pytest.param(
            {"prompt": None}, "prompt", InvalidParameterError, "required", id="prompt"
        ),
        pytest.param(
            {"prompt": {"a": 1}}, "prompt", InvalidParameterTypeError, "dict", id="dict"
        ),
        pytest.param(
            {"prompt": [[1, True]]},
            "prompt",
            InvalidParameterTypeError,
            "token ids",
            id="bool-token",
        ),
        pytest.param(
            {"prompt": [[1, "a"]]},
            "prompt[0][1]",
            InvalidParameterTypeError,
            "str",
            id="str-token",
        ),
        pytest.param(
            {"temperature": 2.5},
            "temperature",
            InvalidParameterError,
            "<= 2",
            id="range",
        ),
        pytest.param(
            {"temperature": "1"},
            "temperature",
            InvalidParameterTypeError,
            "got `str`",
            id="type",
        ),
        pytest.param(
            {"bogus": 1},
            "bogus",
            InvalidParameterError,
            "unknown field",
            id="top-unknown",
        ),
        pytest.param(
            {"retry": {"cnt": 1}},
            "retry.cnt",
            InvalidParameterError,
            "unknown field",
            id="nested-unknown",
        ),
        pytest.param(
            {"orq": {"identity": {"id": "x", "mail": "y"}}},
            "orq.identity.mail",
            InvalidParameterError,
            "unknown field",
            id="deep-unknown",
            marks=pytest.mark.filterwarnings("ignore::DeprecationWarning"),
        ),
        pytest.param(
            {"load_balancer": {"type": "weight_based", "models": [{"weight": 0.5}]}},
            "load_balancer.models[0]",
            InvalidParameterError,
            "missing required field `model`",
            id="missing-nested",
        ),
        pytest.param(
            {"thinking": {"budget_tokens": 1024}},
            "thinking",
            InvalidParameterError,
            "missing required field `type`",
            id="missing-tag",
        ),
        pytest.param(
            {"thinking": {"type": "enabled", "budget_tokens": 0}},
            "thinking.budget_tokens",
            InvalidParameterError,
            ">= 1",
            id="budget",
        ),
        pytest.param(
            {"plugins": [{"id": "pii_redaction", "threshold": 1.5}]},
            "plugins[0].threshold",
            InvalidParameterError,
            "<= 1",
            id="plugin-threshold",
        ),
        pytest.param(
            {"fallback_on_codes": list(range(400, 421))},
            "fallback_on_codes",
            InvalidParameterError,
            "length <= 20",
            id="too-many-codes",
        ),
        pytest.param(
            {"cache": "exact_match"},
            "cache",
            InvalidParameterTypeError,
            "got `str`",
            id="cache-str",
        ),
        pytest.param(
            {"retry": Retry(count=9)},
            "retry.count",
            InvalidParameterError,
            "<= 5",
            id="struct-range",
        ),
        pytest.param(
            {"thinking": ThinkingEnabled(budget_tokens=-1)},
            "thinking.budget_tokens",
            InvalidParameterError,
            ">= 1",
            id="struct-thinking",
        ),
    ],
)
def test_invalid_params_name_the_field(
    params: dict[str, Any],
    field: str,
    error: type[InvalidParameterError],
    problem: str,
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        build(**params)

    assert type(info.value) is error
    assert info.value.field == field
    assert problem in str(info.value)
    assert str(info.value).startswith(f"invalid parameter {field!r}: ")


def test_validation_error_has_no_chained_msgspec_cause() -> None:
    with pytest.raises(InvalidParameterError) as info:
        build(n=0)

    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- decoding ----------------------------------------------------------------


def test_decode_completion_ignores_unknown_fields() -> None:
    body = (
        b'{"id":"c","object":"text_completion","model":"m","created":1,'
        b'"choices":[{"text":"t","index":0,"logprobs":{"x":1},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"new":1},'
        b'"top_level_new":[1]}'
    )

    result = decode_completion(body, None)

    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.total_tokens == 3


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'{"choices":[]}', id="no-id"),
        pytest.param(b'{"id":"x","choices":[{"text":1}]}', id="text-int"),
        pytest.param(b"<html>", id="html"),
    ],
)
def test_decode_completion_rejects(body: bytes) -> None:
    with pytest.raises(ResponseDecodeError) as info:
        decode_completion(body, "rid")

    assert info.value.request_id == "rid"
    assert info.value.raw == body


def test_decode_error_keeps_only_an_excerpt() -> None:
    body = b"x" * 10_000

    with pytest.raises(ResponseDecodeError) as info:
        decode_completion(body, None)

    assert len(info.value.raw) <= 800
    assert len(str(info.value)) < 1000


@pytest.mark.parametrize(
    ("body", "is_envelope"),
    [
        pytest.param(
            b'{"error":{"message":"m","type":"t","param":"p","code":"c"}}',
            True,
            id="full",
        ),
        pytest.param(b'{"error":{}}', True, id="empty-detail"),
        pytest.param(b"", False, id="empty"),
        pytest.param(b"<html>", False, id="html"),
        pytest.param(b'{"detail":"x"}', False, id="other-shape"),
        pytest.param(b'{"error":"string"}', False, id="error-string"),
    ],
)
def test_parse_error_body(body: bytes, is_envelope: bool) -> None:
    assert isinstance(parse_error_body(body), ErrorBody) is is_envelope


def test_parse_error_body_fields() -> None:
    result = parse_error_body(
        b'{"error":{"message":"m","type":"t","param":null,"code":429,"failures":[1]}}'
    )

    assert result is not None
    assert result.error.message == "m"
    assert result.error.type == "t"
    assert result.error.param is None
    assert result.error.code == 429
