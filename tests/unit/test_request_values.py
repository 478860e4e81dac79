"""What a value the caller passes means on the wire: enum members, whole floats,
the ``orq.contact`` deprecation, ``chunk.data`` and lenient response numbers."""

from __future__ import annotations

import enum
import http
import math
import sys
import types
import warnings
from typing import Any

import msgspec
import msgspec.inspect
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orq_async import (
    Cache,
    CompletionChunk,
    InvalidParameterError,
    InvalidParameterTypeError,
    KnowledgeBase,
    OrqConfig,
    Retry,
    ThinkingEnabled,
)
from orq_async._chat_codec import build_chat_request
from orq_async._codec import (
    CHUNK_DECODER,
    _integer_fields,
    assemble_completion,
    build_request,
    decode_completion,
)

BASE = {"model": "m/x", "prompt": "hi"}


def body_of(**params: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        raw = build_request({**BASE, **params})
    decoded: dict[str, Any] = msgspec.json.decode(raw)
    return decoded


class Model(str, enum.Enum):
    GPT = "openai/gpt-3.5-turbo-instruct"


class Word(str, enum.Enum):
    HELLO = "hello"


class Count(enum.IntEnum):
    SIXTY_FOUR = 64


class Status(enum.IntEnum):
    TOO_MANY = 429


if sys.version_info >= (3, 11):

    class Level(enum.StrEnum):
        LOW = "low"

else:  # pragma: no cover - Python 3.10 has no StrEnum

    class Level(str, enum.Enum):
        LOW = "low"


# --- enum members go on the wire as their values ----------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"model": Model.GPT}, {"model": Model.GPT.value}, id="model"),
        pytest.param({"prompt": Word.HELLO}, {"prompt": "hello"}, id="prompt-str"),
        pytest.param(
            {"prompt": [Word.HELLO, "x"]}, {"prompt": ["hello", "x"]}, id="prompt-list"
        ),
        pytest.param(
            {"prompt": [Count.SIXTY_FOUR, 1]}, {"prompt": [64, 1]}, id="prompt-tokens"
        ),
        pytest.param(
            {"prompt": [[Count.SIXTY_FOUR]]}, {"prompt": [[64]]}, id="prompt-nested"
        ),
        pytest.param({"max_tokens": Count.SIXTY_FOUR}, {"max_tokens": 64}, id="int"),
        pytest.param({"user": Word.HELLO}, {"user": "hello"}, id="user"),
        pytest.param({"stop": [Word.HELLO]}, {"stop": ["hello"]}, id="stop-list"),
        pytest.param(
            {"fallback_on_codes": [http.HTTPStatus.TOO_MANY_REQUESTS]},
            {"fallback_on_codes": [429]},
            id="http-status",
        ),
        pytest.param(
            {"retry": {"on_codes": [Status.TOO_MANY]}},
            {"retry": {"on_codes": [429]}},
            id="nested-dict",
        ),
        pytest.param(
            {"retry": Retry(on_codes=[Status.TOO_MANY])},
            {"retry": {"on_codes": [429]}},
            id="struct",
        ),
        pytest.param(
            {"fallbacks": [{"model": Model.GPT}]},
            {"fallbacks": [{"model": Model.GPT.value}]},
            id="list-of-dicts",
        ),
        pytest.param(
            {
                "thinking": {
                    "type": "enabled",
                    "budget_tokens": 8,
                    "thinking_level": Level.LOW,
                }
            },
            {
                "thinking": {
                    "type": "enabled",
                    "budget_tokens": 8,
                    "thinking_level": "low",
                }
            },
            id="str-enum",
        ),
        pytest.param(
            {"orq": {"inputs": {Word.HELLO: Word.HELLO}}},
            {"orq": {"inputs": {"hello": "hello"}}},
            id="enum-dict-key",
        ),
    ],
)
def test_enum_members_are_sent_as_their_values(
    params: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = body_of(**params)

    assert {k: body[k] for k in expected} == expected


def test_an_enum_body_is_byte_identical_to_the_plain_one() -> None:
    with_enums = build_request(
        {"model": Model.GPT, "prompt": [Word.HELLO], "max_tokens": Count.SIXTY_FOUR}
    )
    plain = build_request(
        {"model": Model.GPT.value, "prompt": ["hello"], "max_tokens": 64}
    )

    assert with_enums == plain


class _Text(str):
    pass


class _Whole(int):
    pass


class _Real(float):
    pass


class _Colour(str, enum.Enum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


_JSON_KEYS = st.text(max_size=8)


def _dressed(value: Any) -> st.SearchStrategy[Any]:
    """``value`` as a caller might pass it: str, int and float subclasses, an
    enum member for its value, a tuple for a list, a read-only mapping for a
    dict; the same JSON once plain."""
    if type(value) is str:
        options: list[st.SearchStrategy[Any]] = [st.just(value), st.just(_Text(value))]
        if value == _Colour.RED.value:
            options.append(st.just(_Colour.RED))
        return st.one_of(options)
    if type(value) is int:
        options = [st.just(value), st.just(_Whole(value))]
        if value == _Level.HIGH.value:
            options.append(st.just(_Level.HIGH))
        return st.one_of(options)
    if type(value) is float:
        return st.sampled_from([value, _Real(value)])
    if type(value) is list:
        items = st.tuples(*(_dressed(v) for v in value))
        return st.one_of(items.map(list), items)
    if type(value) is dict:
        keys = list(value)
        members = st.tuples(*(_dressed(value[k]) for k in keys))
        as_dict = members.map(lambda vs: dict(zip(keys, vs, strict=True)))
        return st.one_of(as_dict, as_dict.map(types.MappingProxyType))
    return st.just(value)


_PLAIN_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.just("red")
    | st.just(3),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_JSON_KEYS, inner, max_size=4)
    ),
    max_leaves=12,
)


@given(data=st.data(), plain=st.dictionaries(_JSON_KEYS, _PLAIN_JSON, max_size=4))
def test_a_dressed_free_form_value_gives_the_plain_bytes(
    data: st.DataObject, plain: dict[str, Any]
) -> None:
    dressed = data.draw(_dressed(plain))

    assert build_chat_request(_with_parameters(dressed)) == build_chat_request(
        _with_parameters(plain)
    )


def _with_parameters(parameters: object) -> dict[str, Any]:
    """A chat request whose one tool has these (free-form) parameters."""
    tool = {"type": "function", "function": {"name": "f", "parameters": parameters}}
    return {
        "model": "m/x",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [tool],
    }


def test_an_object_msgspec_cannot_take_apart_is_named_by_its_path() -> None:
    with pytest.raises(InvalidParameterTypeError, match="cannot be encoded"):
        build_chat_request(_with_parameters({"when": (1, object())}))
    for odd in (object(), b"hi"):
        request = _with_parameters({})
        request["messages"].append({"role": "user", "content": odd})
        with pytest.raises(InvalidParameterTypeError) as caught:
            build_chat_request(request)
        assert caught.value.field == "messages[1].content"


# --- whole floats for integer fields ----------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"max_tokens": 64.0}, {"max_tokens": 64}, id="max_tokens"),
        pytest.param({"n": 2.0}, {"n": 2}, id="n"),
        pytest.param({"seed": -7.0}, {"seed": -7}, id="seed"),
        pytest.param({"seed": 1e15}, {"seed": 10**15}, id="seed-large"),
        pytest.param({"retry": {"count": 3.0}}, {"retry": {"count": 3}}, id="retry"),
        pytest.param(
            {"retry": Retry(count=3.0)},  # type: ignore[arg-type]
            {"retry": {"count": 3}},
            id="retry-struct",
        ),
        pytest.param(
            {"thinking": {"type": "enabled", "budget_tokens": 1024.0}},
            {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            id="budget_tokens",
        ),
        pytest.param(
            {"thinking": ThinkingEnabled(budget_tokens=1024.0)},  # type: ignore[arg-type]
            {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            id="budget_tokens-struct",
        ),
        pytest.param(
            {"fallback_on_codes": [429.0, 503]},
            {"fallback_on_codes": [429, 503]},
            id="fallback_on_codes",
        ),
        pytest.param(
            {"orq": {"knowledge_bases": [{"knowledge_id": "k", "top_k": 5.0}]}},
            {"orq": {"knowledge_bases": [{"knowledge_id": "k", "top_k": 5}]}},
            id="knowledge_bases.top_k",
        ),
        pytest.param(
            {
                "orq": OrqConfig(
                    knowledge_bases=[
                        KnowledgeBase(
                            knowledge_id="k",
                            rerank_config={"model": "r", "top_k": 3.0},  # type: ignore[arg-type]
                        )
                    ]
                )
            },
            {
                "orq": {
                    "knowledge_bases": [
                        {
                            "knowledge_id": "k",
                            "rerank_config": {"model": "r", "top_k": 3},
                        }
                    ]
                }
            },
            id="rerank_config.top_k",
        ),
        pytest.param(
            {"orq": {"retry": {"count": 2.0, "on_codes": [500.0]}}},
            {"orq": {"retry": {"count": 2, "on_codes": [500]}}},
            id="orq.retry",
        ),
    ],
)
def test_whole_floats_are_sent_as_integers(
    params: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = body_of(**params)

    assert {k: body[k] for k in expected} == expected
    assert msgspec.json.encode({k: body[k] for k in expected}).count(b".0") == 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(
            {"cache": {"type": "exact_match", "ttl": 60.0}},
            b'"cache":{"type":"exact_match","ttl":60.0}',
            id="cache.ttl",
        ),
        pytest.param(
            {"cache": Cache(type="exact_match", ttl=60)},
            b'"cache":{"type":"exact_match","ttl":60}',
            id="cache.ttl-int",
        ),
        pytest.param(
            {"timeout": {"call_timeout": 1500.0}},
            b'"timeout":{"call_timeout":1500.0}',
            id="call_timeout",
        ),
        pytest.param({"temperature": 1.0}, b'"temperature":1.0', id="temperature"),
        pytest.param({"top_p": 1}, b'"top_p":1', id="top_p-int"),
    ],
)
def test_plain_number_fields_keep_what_the_caller_gave(
    params: dict[str, Any], expected: bytes
) -> None:
    assert expected in build_request({**BASE, **params})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"max_tokens": 64.5}, "max_tokens", id="fraction"),
        pytest.param({"max_tokens": math.nan}, "max_tokens", id="nan"),
        pytest.param({"n": math.inf}, "n", id="inf"),
        pytest.param({"seed": -math.inf}, "seed", id="minus-inf"),
        pytest.param({"retry": {"count": 2.5}}, "retry.count", id="retry.count"),
        pytest.param(
            {"thinking": {"type": "enabled", "budget_tokens": 0.5}},
            "thinking.budget_tokens",
            id="budget_tokens",
        ),
        pytest.param({"max_tokens": True}, "max_tokens", id="bool"),
        pytest.param({"n": False}, "n", id="bool-false"),
    ],
)
def test_non_integral_numbers_are_refused_naming_the_field(
    params: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParameterTypeError) as info:
        build_request({**BASE, **params})

    assert info.value.field == field


def test_a_whole_float_below_the_minimum_is_still_out_of_range() -> None:
    with pytest.raises(InvalidParameterError) as info:
        build_request({**BASE, "max_tokens": 0.0})

    assert info.value.field == "max_tokens"


@given(value=st.integers(min_value=1, max_value=2**53))
def test_a_whole_float_gives_the_bytes_of_its_int(value: int) -> None:
    assert build_request({**BASE, "max_tokens": float(value)}) == build_request(
        {**BASE, "max_tokens": value}
    )


# --- deprecations -------------------------------------------------------------


def test_orq_contact_warns_as_deprecated() -> None:
    with pytest.warns(DeprecationWarning) as record:
        build_request({**BASE, "orq": {"contact": {"id": "c-1"}}})

    messages = [str(w.message) for w in record]
    assert any("'orq.contact' is deprecated" in m for m in messages)
    assert any("'orq' parameter is deprecated" in m for m in messages)


def test_orq_without_contact_warns_once() -> None:
    with pytest.warns(DeprecationWarning) as record:
        build_request({**BASE, "orq": {"identity": {"id": "c-1"}}})

    assert len(record) == 1


# --- responses ----------------------------------------------------------------


def test_chunk_data_is_the_chunk() -> None:
    chunk = CHUNK_DECODER.decode(b'{"id":"c","choices":[{"text":"hi"}]}')

    assert chunk.data is chunk
    assert chunk.data.choices[0].text == "hi"
    assert "data" not in msgspec.json.decode(msgspec.json.encode(chunk))


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(
            b'{"prompt_tokens":4.5,"completion_tokens":2,"total_tokens":6.5}',
            (4.5, 2, 6.5),
            id="fractional",
        ),
        pytest.param(
            b'{"prompt_tokens":4.0,"completion_tokens":1e3,"total_tokens":1004}',
            (4.0, 1000.0, 1004),
            id="float-typed",
        ),
    ],
)
def test_fractional_usage_is_decoded(
    usage: bytes, expected: tuple[float, float, float]
) -> None:
    body = b'{"id":"c","choices":[{"text":"hi","index":0}],"usage":' + usage + b"}"

    completion = decode_completion(body, None)

    assert completion.usage is not None
    got = (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    )
    assert got == expected
    assert type(completion.usage.total_tokens) is type(expected[2])


def test_float_created_and_index_are_decoded() -> None:
    body = b'{"id":"c","created":1.7e9,"choices":[{"text":"hi","index":1.5}]}'

    completion = decode_completion(body, None)

    assert completion.created == 1.7e9
    assert completion.choices[0].index == 1.5


def test_int_numbers_stay_ints() -> None:
    body = (
        b'{"id":"c","created":1700000000,"choices":[{"text":"hi","index":0}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,'
        b'"prompt_tokens_details":{"cached_tokens":1}}}'
    )

    completion = decode_completion(body, None)

    assert type(completion.created) is int
    assert type(completion.choices[0].index) is int
    assert completion.usage is not None
    assert type(completion.usage.prompt_tokens) is int
    assert completion.usage.prompt_tokens_details is not None
    assert type(completion.usage.prompt_tokens_details.cached_tokens) is int


# --- assembling a completion from chunks ----------------------------------------


def chunk(text: str, **kw: Any) -> CompletionChunk:
    choice = {"text": text, "index": kw.pop("index", 0)}
    if "finish_reason" in kw:
        choice["finish_reason"] = kw.pop("finish_reason")
    return CHUNK_DECODER.decode(msgspec.json.encode({"choices": [choice], **kw}))


def test_assemble_joins_text_per_choice() -> None:
    completion = assemble_completion(
        [
            chunk("Hel", id="c1", model="m", created=5),
            chunk("Wor", index=1, id="c1"),
            chunk("lo", finish_reason="stop", id="c1"),
            chunk("ld", index=1, finish_reason="length", id="c1"),
            CHUNK_DECODER.decode(
                b'{"id":"c1","choices":[],"usage":'
                b'{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}'
            ),
        ]
    )

    assert completion is not None
    assert [(c.index, c.text, c.finish_reason) for c in completion.choices] == [
        (0, "Hello", "stop"),
        (1, "World", "length"),
    ]
    assert (completion.id, completion.model, completion.created) == ("c1", "m", 5)
    assert completion.usage is not None
    assert completion.usage.total_tokens == 5


def test_assemble_of_nothing_is_none() -> None:
    assert assemble_completion([]) is None


# --- where the integer fields are, read from the structs -------------------------


class _Inner(msgspec.Struct, tag=True):
    count: int
    ratio: float
    size: int


class _OtherInner(msgspec.Struct, tag=True):
    count: _Inner
    size: int


class _Outer(msgspec.Struct):
    plain: int | None
    number: int | float
    either: _Inner | _OtherInner
    items: list[_Inner]
    table: dict[str, int]
    text: str
    clash: _ClashA | _ClashB


class _ClashA(msgspec.Struct, tag=True):
    value: int


class _ClashB(msgspec.Struct, tag=True):
    value: list[int]


def test_integer_fields_are_found_by_type() -> None:
    tree = _integer_fields(msgspec.inspect.type_info(_Outer))

    assert tree == {
        "plain": "int",
        # "count" is an int in one, a struct in the other; "size" an int in both.
        "either": {"size": "int"},
        "items": {"*": {"count": "int", "size": "int"}},
        "table": {"*": "int"},
    }


def test_a_struct_without_integer_fields_has_no_tree() -> None:
    assert _integer_fields(msgspec.inspect.type_info(list[str])) is None
