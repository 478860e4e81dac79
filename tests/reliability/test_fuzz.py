"""Hypothesis fuzzing of the decoders and of both response paths, end to end.

The only exceptions allowed out of orq_async are its own typed ones
(:class:`OrqError` subclasses; the sans-IO decoders name theirs). Fast: a few
hundred examples per test. SSEDecoder totality on arbitrary bytes and chunkings
is in tests/unit/test_sse_properties.py; here the parser is fuzzed as part of the
whole stream path (parser + chunk decoder + in-band errors + the iterator), with
random event size limits, cuts, line ends and endings of the body.

A coverage-guided variant runs under atheris: tests/reliability/fuzz_atheris.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orq_async import AsyncOrq, Completion, CompletionChunk, OrqError, Timeouts
from orq_async._codec import decode_completion, parse_error_body
from orq_async._exceptions import ResponseDecodeError
from orq_async._wire import ErrorBody
from orq_async.testing import FakeOrqServer, FakeResponse, completion_chunk

from ..conftest import API_KEY

FUZZ = settings(
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
E2E = settings(
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

RAW_NUMBERS = [
    b"1e999",
    b"-1e999",
    b"123456789012345678901234567890",
    b"-0",
    b"1.5e-400",
]
SPICE = [
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # a UTF-16 surrogate encoded in UTF-8 (invalid)
    b"\\ud800",
    b"\\u0000",
    b"\x00",
    b"\xe2\x80\xa8",
    b'"',
    b"\\",
    b"{",
    b"]",
    b",",
    b"null",
    *RAW_NUMBERS,
]


def _template() -> dict[str, Any]:
    chunk = completion_chunk("hello", finish_reason="stop")
    chunk["usage"] = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    chunk["system_fingerprint"] = "fp"
    return chunk


_PATHS: list[tuple[str | int, ...]] = [
    ("id",),
    ("object",),
    ("created",),
    ("model",),
    ("choices",),
    ("choices", 0),
    ("choices", 0, "text"),
    ("choices", 0, "index"),
    ("choices", 0, "finish_reason"),
    ("choices", 0, "logprobs"),
    ("usage",),
    ("usage", "total_tokens"),
    ("system_fingerprint",),
]


@st.composite
def completion_like(draw: st.DrawFn) -> bytes:
    """A valid completion with some fields replaced, then byte-level mutations."""
    doc = _template()
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_PATHS))
        target: Any = doc
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = draw(json_values)
        except (IndexError, KeyError, TypeError):
            pass  # an earlier replacement removed this path
    raw = bytearray(msgspec.json.encode(doc))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        spice = draw(st.sampled_from(SPICE))
        if action == "insert":
            raw[at:at] = spice
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 8))]
        else:
            raw[at : at + len(spice)] = spice
    return bytes(raw)


bodies = st.one_of(st.binary(max_size=300), completion_like())


# -- the codec decoders ----------------------------------------------------------------


@FUZZ
@given(body=bodies)
def test_decode_completion_returns_or_raises_response_decode_error(body: bytes) -> None:
    try:
        result = decode_completion(body, "rid")
    except ResponseDecodeError as exc:
        assert exc.request_id == "rid"
        assert len(exc.raw) <= 800
        str(exc)  # renders
    else:
        assert isinstance(result, Completion)


@FUZZ
@given(
    body=st.one_of(
        bodies,
        st.builds(
            lambda v: msgspec.json.encode({"error": v}),
            json_values,
        ),
    )
)
def test_parse_error_body_never_raises(body: bytes) -> None:
    result = parse_error_body(body)
    assert result is None or isinstance(result, ErrorBody)


# -- end to end: one loop, server and client for all examples --------------------------


class Harness:
    """A fake router and a client on a private event loop, reused per example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = FakeOrqServer(api_key=API_KEY)
        self.loop.run_until_complete(self.server.start())
        self.client = AsyncOrq(
            api_key=API_KEY,
            server_url=self.server.url,
            retries=0,
            timeouts=Timeouts(first_byte=5, stream_idle=2),
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.server.aclose())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


@st.composite
def sse_bodies(draw: st.DrawFn) -> list[bytes]:
    """SSE wire pieces: real-looking frames, mutated ones and junk, cut anywhere."""
    eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    frames: list[bytes] = []
    if draw(st.booleans()):
        frames.append(b"\xef\xbb\xbf")
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(
            st.sampled_from(
                ["chunk", "mutated", "error", "error-event", "comment", "junk", "done"]
            )
        )
        if kind == "chunk":
            data = msgspec.json.encode(completion_chunk(draw(st.text(max_size=10))))
        elif kind == "mutated":
            data = draw(completion_like())
        elif kind in ("error", "error-event"):
            data = msgspec.json.encode({"error": draw(json_values)})
        elif kind == "done":
            data = b"[DONE]"
        elif kind == "comment":
            frames.append(b": ping" + eol + eol)
            continue
        else:
            frames.append(draw(st.binary(max_size=40)))
            continue
        head = b"event: error" + eol if kind == "error-event" else b""
        lines = data.replace(b"\r", b"").split(b"\n")
        frames.append(head + b"".join(b"data: " + line + eol for line in lines) + eol)
    wire = b"".join(frames)
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=5)))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(wire[last:cut])
        last = cut
    pieces.append(wire[last:])
    return [p for p in pieces if p]


def test_the_harness_really_streams(harness: Harness) -> None:
    # Guards the fuzz tests below from passing vacuously on a broken harness.
    harness.server.enqueue(FakeResponse.stream(["a", "b"]))

    async def consume() -> list[str]:
        stream = await harness.client.router.completions.create(
            model="m", prompt="p", stream=True
        )
        return [chunk.choices[0].text async for chunk in stream]

    assert harness.run(consume()) == ["a", "b"]


@E2E
@given(
    pieces=sse_bodies(),
    then=st.sampled_from(["end", "abort"]),
    limit=st.integers(1024, 4096),
)
def test_stream_path_yields_chunks_or_typed_errors(
    harness: Harness, pieces: list[bytes], then: str, limit: int
) -> None:
    harness.server.enqueue(FakeResponse.events_(pieces, then=then))  # type: ignore[arg-type]
    harness.client.max_event_size = limit

    async def consume() -> None:
        try:
            stream = await harness.client.router.completions.create(
                model="m", prompt="p", stream=True
            )
            async with stream:
                async for chunk in stream:
                    assert isinstance(chunk, CompletionChunk)
        except OrqError as exc:
            str(exc), repr(exc)

    harness.run(consume())


@E2E
@given(
    body=bodies,
    status=st.sampled_from([200, 201, 400, 401, 429, 500, 503]),
    content_type=st.sampled_from(
        ["application/json", "text/html", "text/event-stream", "application/x-junk"]
    ),
    stream=st.booleans(),
)
def test_json_path_returns_a_completion_or_typed_errors(
    harness: Harness, body: bytes, status: int, content_type: str, stream: bool
) -> None:
    harness.server.enqueue(
        FakeResponse.raw(body, status=status, content_type=content_type)
    )

    async def call() -> None:
        try:
            result = await harness.client.router.completions.create(
                model="m", prompt="p", stream=stream
            )
            if stream:
                async with result:  # type: ignore[union-attr]
                    async for _ in result:  # type: ignore[union-attr]
                        pass
            else:
                assert isinstance(result, Completion)
        except OrqError as exc:
            str(exc), repr(exc)

    harness.run(call())
