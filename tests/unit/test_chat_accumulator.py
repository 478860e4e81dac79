"""Chat stream accumulation: SSE bytes -> chunks -> one ChatCompletion.

The three example streams are the OpenAI-style shapes a chat stream takes:
plain text, two parallel tool calls, and text with a trailing usage-only chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orq_async._chat_codec import (
    CHAT_CHUNK_DECODER,
    ChatCompletionAccumulator,
    merge_common_chunk,
)
from orq_async._chat_wire import ChatCompletionChunk
from orq_async._exceptions import IncompleteStreamError, ToolArgumentsError
from orq_async._sse import SSEDecoder

from ..chat_vectors import S1, S2, S3, STREAMS, as_json, want


def chunks_of(pieces: Iterable[bytes]) -> list[ChatCompletionChunk]:
    decoder = SSEDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)] + decoder.end()
    return [CHAT_CHUNK_DECODER.decode(e.data) for e in events if e.data != b"[DONE]"]


def accumulate(chunks: Iterable[ChatCompletionChunk]) -> ChatCompletionAccumulator:
    acc = ChatCompletionAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("split", ["events", "bytes"])
def test_example_streams_accumulate_to_the_expected_completion(
    name: str, split: str
) -> None:
    raw = b"".join(STREAMS[name])
    pieces = STREAMS[name] if split == "events" else [bytes([b]) for b in raw]

    acc = accumulate(chunks_of(pieces))

    assert acc.complete
    acc.check_complete()
    assert as_json(acc.result()) == want(name)


def test_created_stays_an_int_and_usage_counts_stay_ints() -> None:
    result = accumulate(chunks_of(S3)).result()

    assert type(result.created) is int
    assert result.usage is not None
    assert type(result.usage.total_tokens) is int


def test_a_stream_cut_mid_tool_call_raises_with_the_partial_completion() -> None:
    acc = accumulate(chunks_of(S2[:3]))

    with pytest.raises(IncompleteStreamError) as info:
        acc.check_complete(request_id="req_1")

    partial = info.value.partial_completion
    assert partial is not None
    assert info.value.chunks_received == 3
    assert info.value.request_id == "req_1"
    assert partial.choices[0].finish_reason is None
    calls = partial.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.arguments == '{"city": "Par'
    with pytest.raises(ToolArgumentsError) as bad:
        calls[0].parse_arguments()
    assert bad.value.raw == '{"city": "Par'
    assert bad.value.tool_call_id == "call_Xa1"
    assert bad.value.name == "get_weather"


def test_a_cut_text_stream_carries_its_partial_text() -> None:
    with pytest.raises(IncompleteStreamError) as info:
        accumulate(chunks_of(S1[:3])).check_complete()

    assert info.value.partial_text == "Hello! How can I help?"


def test_an_empty_stream_is_incomplete() -> None:
    with pytest.raises(IncompleteStreamError):
        ChatCompletionAccumulator().check_complete()


def test_repeated_id_and_name_are_not_concatenated() -> None:
    repeated = tuple(
        piece.replace(
            b'{"index":0,"function":{',
            b'{"index":0,"id":"call_Xa1","function":{"name":"get_weather",',
        )
        for piece in S2
    )

    result = accumulate(chunks_of(repeated)).result()

    assert as_json(result) == want("S2")


def test_snapshot_grows_with_each_chunk() -> None:
    acc = ChatCompletionAccumulator()
    seen = []
    for chunk in chunks_of(S1):
        acc.add(chunk)
        seen.append(acc.snapshot.choices[0].message.content)

    assert seen == ["", "Hello", "Hello! How can I help?", "Hello! How can I help?"]


def test_choices_are_keyed_by_index_and_sorted() -> None:
    chunks = [
        msgspec.convert(
            {
                "id": "x",
                "choices": [
                    {"index": 1, "delta": {"content": "b"}, "finish_reason": None},
                    {"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"},
                ],
            },
            ChatCompletionChunk,
        ),
        msgspec.convert(
            {"choices": [{"index": 1, "delta": {}, "finish_reason": "length"}]},
            ChatCompletionChunk,
        ),
    ]

    result = accumulate(chunks).result()

    assert [(c.index, c.message.content, c.finish_reason) for c in result.choices] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]


def test_fragments_without_index_join_by_id_or_the_latest_call() -> None:
    def chunk(*calls: dict[str, Any]) -> ChatCompletionChunk:
        return msgspec.convert(
            {"choices": [{"delta": {"tool_calls": list(calls)}}]}, ChatCompletionChunk
        )

    acc = accumulate(
        [
            chunk({"id": "a", "function": {"name": "f", "arguments": "{"}}),
            chunk({"function": {"arguments": "}"}}),
            chunk({"id": "b", "function": {"name": "g", "arguments": "[]"}}),
            chunk({"id": "a", "function": {"arguments": " "}}),
        ]
    )

    calls = acc.result().choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "f", "{} "),
        ("b", "g", "[]"),
    ]


def test_reasoning_refusal_and_signature_pieces() -> None:
    chunks = [
        msgspec.convert(
            {"choices": [{"delta": d}]},
            ChatCompletionChunk,
        )
        for d in (
            {"reasoning": "th", "refusal": "no", "reasoning_signature": "s1"},
            {"reasoning": "ink", "refusal": "pe", "reasoning_signature": "s2"},
        )
    ]

    message = accumulate(chunks).result().choices[0].message

    assert (message.reasoning, message.refusal, message.reasoning_signature) == (
        "think",
        "nope",
        "s2",
    )
    assert message.content is None


# --- property: chunking and splitting do not change the result -----------------

ARGS = ['{"city": "Paris"}', '{"tz": "Europe/Paris"}', "", '{"a": [1, 2, {"b": "c"}]}']


@st.composite
def tool_stream(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """A list of tool-call fragments (several per chunk or not) and the calls
    they must assemble to."""
    calls = draw(
        st.lists(
            st.tuples(st.sampled_from(["f", "get_time"]), st.sampled_from(ARGS)),
            min_size=1,
            max_size=3,
        )
    )
    fragments: list[dict[str, Any]] = []
    for index, (name, args) in enumerate(calls):
        cuts = sorted(draw(st.sets(st.integers(0, len(args)), max_size=4)))
        pieces = [
            args[a:b] for a, b in zip([0, *cuts], [*cuts, len(args)], strict=True)
        ]
        first = {"index": index, "id": f"call_{index}", "type": "function"}
        first["function"] = {"name": name, "arguments": pieces[0]}
        fragments.append(first)
        repeat = draw(st.booleans())
        for piece in pieces[1:]:
            fragment: dict[str, Any] = {
                "index": index,
                "function": {"arguments": piece},
            }
            if repeat:
                fragment["id"] = f"call_{index}"
                fragment["function"]["name"] = name
            fragments.append(fragment)
    return fragments, calls


@given(tool_stream(), st.data())
def test_any_chunking_of_a_tool_call_stream_gives_the_same_calls(
    stream: tuple[list[dict[str, Any]], list[tuple[str, str]]], data: st.DataObject
) -> None:
    fragments, calls = stream
    cuts = sorted(data.draw(st.sets(st.integers(1, len(fragments)))))
    groups = [
        fragments[a:b]
        for a, b in zip([0, *cuts], [*cuts, len(fragments)], strict=True)
        if a < b
    ]
    chunks = [
        msgspec.json.decode(
            msgspec.json.encode({"choices": [{"delta": {"tool_calls": group}}]}),
            type=ChatCompletionChunk,
        )
        for group in groups
    ]

    result = accumulate(chunks).result()

    got = result.choices[0].message.tool_calls
    assert got is not None
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in got] == [
        (f"call_{i}", "function", name, args) for i, (name, args) in enumerate(calls)
    ]


@given(st.integers(1, 40), st.data())
def test_any_byte_split_of_an_example_stream_gives_the_same_result(
    parts: int, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(STREAMS)))
    raw = b"".join(STREAMS[name])
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=parts)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]

    result = accumulate(chunks_of(pieces)).result()

    assert as_json(result) == want(name)


def test_logprobs_token_lists_are_extended() -> None:
    def token(t: str) -> dict[str, Any]:
        return {"token": t, "logprob": -0.1, "bytes": None, "top_logprobs": []}

    chunks = [
        msgspec.convert(
            {
                "choices": [
                    {"delta": {"content": t}, "logprobs": {"content": [token(t)]}}
                ]
            },
            ChatCompletionChunk,
        )
        for t in ("a", "b")
    ]

    logprobs = accumulate(chunks).result().choices[0].logprobs

    assert logprobs == {"content": [token("a"), token("b")], "refusal": None}


def test_a_snapshot_is_not_changed_by_later_chunks() -> None:
    chunks = chunks_of(S2)
    acc = accumulate(chunks[:2])
    before = acc.snapshot

    for chunk in chunks[2:]:
        acc.add(chunk)

    calls = before.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.arguments == '{"ci'
    assert before.choices[0].finish_reason is None


def test_every_choice_needs_a_finish_reason() -> None:
    chunk = msgspec.convert(
        {
            "choices": [
                {"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"},
                {"index": 1, "delta": {"content": "b"}},
            ]
        },
        ChatCompletionChunk,
    )
    acc = accumulate([chunk])

    assert not acc.complete
    with pytest.raises(IncompleteStreamError) as info:
        acc.check_complete()
    partial = info.value.partial_completion
    assert partial is not None
    assert [c.finish_reason for c in partial.choices] == ["stop", None]
    assert info.value.partial_text == "a"


def test_top_level_and_rare_fields_are_kept() -> None:
    chunks = [
        msgspec.convert(
            {
                "id": "c1",
                "model": "m",
                "system_fingerprint": fingerprint,
                "service_tier": "default",
                "choices": [
                    {
                        "delta": {
                            "redacted_reasoning": piece,
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "thought_signature": piece,
                                    "function": {"name": "f"},
                                }
                            ],
                        }
                    }
                ],
            },
            ChatCompletionChunk,
        )
        for fingerprint, piece in (("fp_1", "x"), (None, "y"))
    ]

    acc = accumulate(chunks)
    result = acc.result()

    assert acc.chunks_received == 2
    assert (result.id, result.model, result.system_fingerprint) == ("c1", "m", "fp_1")
    assert result.service_tier == "default"
    message = result.choices[0].message
    assert message.redacted_reasoning == "xy"
    assert message.tool_calls is not None
    assert message.tool_calls[0].thought_signature == "x"


# -- the common-chunk fast path (merge_common_chunk) against add -----------------

_maybe_text = st.one_of(st.none(), st.sampled_from(["", "a", "bc"]))


@st.composite
def fragment(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"index": draw(st.sampled_from([None, 0, 1, 0.0]))}
    for key, values in (
        ("id", [None, "", "call_a", "call_b"]),
        ("type", [None, "function"]),
        ("thought_signature", [None, "sig"]),
    ):
        value = draw(st.sampled_from(values))
        if value is not None:
            out[key] = value
    if draw(st.booleans()):
        out["function"] = {
            "name": draw(st.sampled_from([None, "", "f"])),
            "arguments": draw(st.sampled_from([None, "", "{", '"x"'])),
        }
    return out


@st.composite
def any_chunk(draw: st.DrawFn) -> dict[str, Any]:
    """A chunk of any shape, weighted towards the common one."""
    choices = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
        delta: dict[str, Any] = {}
        for key in ("role", "content", "refusal", "reasoning"):
            if draw(st.integers(0, 3)) == 0 or key == "content":
                delta[key] = draw(_maybe_text)
        for key in ("reasoning_signature", "redacted_reasoning"):
            if draw(st.integers(0, 5)) == 0:
                delta[key] = draw(_maybe_text)
        if draw(st.integers(0, 2)) == 0:
            delta["tool_calls"] = draw(st.lists(fragment(), max_size=2))
        choice: dict[str, Any] = {
            "index": draw(st.sampled_from([0, 0, 0, 1, 0.0, 2])),
            "delta": delta,
        }
        if draw(st.integers(0, 4)) == 0:
            choice["finish_reason"] = draw(st.sampled_from([None, "stop", "length"]))
        if draw(st.integers(0, 6)) == 0:
            choice["logprobs"] = {"content": [{"token": "t"}]}
        choices.append(choice)
    chunk: dict[str, Any] = {"id": "c", "model": "m", "choices": choices}
    for key, values in (
        ("usage", [None, {"prompt_tokens": 1, "total_tokens": 2}]),
        ("system_fingerprint", [None, "fp_1", "fp_2"]),
        ("service_tier", [None, "default"]),
    ):
        if draw(st.integers(0, 3)) == 0:
            chunk[key] = draw(st.sampled_from(values))
    return chunk


@given(st.lists(any_chunk(), max_size=12))
def test_the_common_chunk_path_merges_exactly_as_add(
    shapes: list[dict[str, Any]],
) -> None:
    chunks = [msgspec.convert(shape, ChatCompletionChunk) for shape in shapes]
    simple = accumulate(chunks)
    fast = ChatCompletionAccumulator()

    for chunk in chunks:
        piece = merge_common_chunk(fast, chunk)
        if piece is None:
            fast.add(chunk)
        else:
            # The piece is what the stream keeps for partial_text.
            delta = chunk.choices[0].delta
            assert piece == (delta.content or "")

    assert as_json(fast.result()) == as_json(simple.result())
    assert fast.chunks_received == simple.chunks_received
    assert fast.complete == simple.complete


def test_the_common_chunks_of_the_example_streams_take_the_fast_path() -> None:
    for name in sorted(STREAMS):
        chunks = chunks_of(STREAMS[name])
        acc = ChatCompletionAccumulator()
        taken = 0
        for chunk in chunks:
            if merge_common_chunk(acc, chunk) is None:
                acc.add(chunk)
            else:
                taken += 1

        assert taken > 0, name
        assert as_json(acc.result()) == want(name)


def test_a_chunk_refused_by_the_fast_path_is_left_untouched() -> None:
    acc = accumulate(chunks_of(S1[:2]))
    before = as_json(acc.snapshot)
    finish = msgspec.convert(
        {"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]},
        ChatCompletionChunk,
    )

    assert merge_common_chunk(acc, finish) is None
    assert as_json(acc.snapshot) == before
    assert acc.chunks_received == 2
