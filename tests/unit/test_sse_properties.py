"""Property tests for the sans-IO SSE decoder (orq_async._sse).

(a) chunking invariance: any cutting of a stream into reads gives the same events as
    feeding it whole, and both match a deliberately naive, spec-literal reference;
(b) totality: arbitrary bytes in arbitrary pieces give events or SSEProtocolError,
    never any other exception;
(c) round-trip: events serialised by a simple encoder parse back to themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from orq_async._exceptions import EventTooLargeError, SSEProtocolError
from orq_async._sse import ServerSentEvent, SSEDecoder

BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"\r\n|\r|\n")


# -- helpers -------------------------------------------------------------------------


def reference_parse(stream: bytes) -> list[ServerSentEvent]:
    """The events of :func:`reference_state`."""
    return reference_state(stream)[0]


def reference_state(stream: bytes) -> tuple[list[ServerSentEvent], str, int | None]:
    """The WHATWG algorithm transcribed as literally as possible, on whole input.

    Independent of the decoder's machinery: regex line splitting, a bytes data
    buffer with explicit LF handling, no fast paths. Returns the events, the
    published last event id and the reconnection time.
    """
    if stream.startswith(BOM):
        stream = stream[3:]
    # The item after the last line end is an unterminated line: discarded at EOF.
    *lines, _unterminated = _LINE_END.split(stream)
    events: list[ServerSentEvent] = []
    data = b""
    event_type = ""
    id_buffer = ""
    retry: int | None = None
    last_event_id = ""
    for line in lines:
        if line == b"":
            last_event_id = id_buffer
            if data == b"":
                event_type = ""
                continue
            if data.endswith(b"\n"):
                data = data[:-1]
            events.append(
                ServerSentEvent(event_type or "message", data, id_buffer, retry)
            )
            data = b""
            event_type = ""
            continue
        if line.startswith(b":"):
            continue
        if b":" in line:
            field, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
        else:
            field, value = line, b""
        if field == b"event":
            event_type = value.decode("utf-8", "replace")
        elif field == b"data":
            data += value + b"\n"
        elif field == b"id":
            if b"\0" not in value:
                id_buffer = value.decode("utf-8", "replace")
        elif field == b"retry":
            if value and all(0x30 <= b <= 0x39 for b in value):
                retry = int(value)
    return events, last_event_id, retry


def pieces_of(stream: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    bounds = [0, *points, len(stream)]
    return [stream[a:b] for a, b in pairwise(bounds)]


def decode(
    pieces: Sequence[bytes], max_event_size: int | None = None
) -> list[ServerSentEvent]:
    decoder = (
        SSEDecoder()
        if max_event_size is None
        else SSEDecoder(max_event_size=max_event_size)
    )
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.end()
    return events


def decode_state(
    pieces: Sequence[bytes],
) -> tuple[list[ServerSentEvent], str, int | None]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.end()
    return events, decoder.last_event_id, decoder.retry


# -- strategies ------------------------------------------------------------------------

# Text that stresses the decoder: ASCII, the SSE syntax characters, multi-byte UTF-8
# (2, 3 and 4 bytes) and the characters that must *not* end lines.
_value_text = st.text(
    alphabet=st.sampled_from(
        list("ab :{}\"'0123456789")
        + [
            "é",
            "€",
            "😀",
            "\u2028",
            "\u2029",
            "\u0085",
            "\x0b",
            "\x0c",
            "\x1e",
            "\ufeff",
        ]
    ),
    max_size=12,
)
_field_name = st.sampled_from(
    [
        b"data",
        b"event",
        b"id",
        b"retry",
        b"Data",
        b"data ",
        b"foo",
        b"",
        b"\xef\xbb\xbfdata",
    ]
)


@st.composite
def _wire_line(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(["field", "field", "field", "bare", "comment", "blank", "raw"])
    )
    if kind == "blank":
        return b""
    if kind == "comment":
        return b":" + draw(_value_text).encode()
    if kind == "bare":
        return draw(_field_name)
    if kind == "raw":
        # Arbitrary bytes, including invalid UTF-8 and NUL, minus line ends.
        return draw(st.binary(max_size=10)).replace(b"\r", b"").replace(b"\n", b"")
    name = draw(_field_name)
    space = draw(st.sampled_from([b"", b" ", b"  "]))
    if name == b"retry" and draw(st.booleans()):
        value = str(draw(st.integers(0, 10**6))).encode()
    elif name == b"id" and draw(st.integers(0, 9)) == 0:
        value = b"a\x00b"
    else:
        value = draw(_value_text).encode()
    return name + b":" + space + value


@st.composite
def sse_wire(draw: st.DrawFn) -> bytes:
    """Structured SSE bytes: random lines, random line ends, optional BOM."""
    lines = draw(st.lists(_wire_line(), max_size=25))
    ends = draw(
        st.lists(
            st.sampled_from([b"\n", b"\r", b"\r\n"]),
            min_size=len(lines),
            max_size=len(lines),
        )
    )
    body = b"".join(line + end for line, end in zip(lines, ends, strict=True))
    if draw(st.booleans()):
        # Usually end the stream with a blank line so the last event dispatches;
        # otherwise leave a partial line or event for end() to discard.
        body += draw(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n", b"data: tail"]))
    if draw(st.integers(0, 3)) == 0:
        body = BOM + body
    return body


_cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=20)


# -- (a) chunking invariance -----------------------------------------------------------


@settings(deadline=None, max_examples=400)
@given(stream=sse_wire(), cuts=_cuts)
def test_any_chunking_gives_the_same_events(stream: bytes, cuts: list[int]) -> None:
    whole = decode_state([stream])
    assert whole == reference_state(stream)
    assert decode_state(pieces_of(stream, cuts)) == whole


@settings(deadline=None, max_examples=100)
@given(stream=sse_wire())
def test_one_byte_reads_give_the_same_events(stream: bytes) -> None:
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == reference_parse(
        stream
    )


@settings(deadline=None, max_examples=200)
@given(
    payloads=st.lists(
        st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
        max_size=30,
    ),
    cuts=_cuts,
    crlf=st.booleans(),
)
def test_typical_data_streams_in_any_chunking(
    payloads: list[bytes], cuts: list[int], crlf: bool
) -> None:
    # The shape of real completion traffic, which takes the decoder's fast paths.
    end = b"\r\n" if crlf else b"\n"
    stream = b"".join(b"data: " + p + end + end for p in payloads)
    expected = [ServerSentEvent(data=p) for p in payloads]
    assert decode([stream]) == expected
    assert decode(pieces_of(stream, cuts)) == expected


@settings(deadline=None, max_examples=200)
@given(stream=sse_wire(), cuts=_cuts, limit=st.integers(min_value=1, max_value=40))
def test_size_limit_does_not_depend_on_chunking(
    stream: bytes, cuts: list[int], limit: int
) -> None:
    def outcome(pieces: Sequence[bytes]) -> tuple[bool, list[ServerSentEvent]]:
        decoder = SSEDecoder(max_event_size=limit)
        events: list[ServerSentEvent] = []
        try:
            for piece in pieces:
                events += decoder.feed(piece)
            events += decoder.end()
        except SSEProtocolError:
            return True, events
        return False, events

    raised_whole, events_whole = outcome([stream])
    raised_pieces, events_pieces = outcome(pieces_of(stream, cuts))
    assert raised_whole == raised_pieces
    full = reference_parse(stream)
    if raised_whole:
        # Events completed before the error may have been returned by earlier feeds.
        assert events_pieces == full[: len(events_pieces)]
    else:
        assert events_whole == events_pieces == full


# Streams made of whole events that almost take the block fast path (every read
# of nothing but `data: ` events): the blocks and separators around it, where a
# shortcut taken wrongly would show (a second line, `data:` without the space,
# blank-line runs, other fields and event types, an id change mid-stream).
_near_fast_block = st.sampled_from(
    [
        b"data: x",
        b"data: x",
        b"data: {}",
        b"data: ",
        b"data:x",
        b"data:  x",
        b"data: a\ndata: b",
        b"data: a\nid: 7",
        b"id: 9\ndata: z",
        b"event: error\ndata: e",
        b"event: message\ndata: m",
        b"retry: 5\ndata: r",
        b": keep-alive",
        b"",
        b"data: \n\ndata: y",
        b"datum: q",
    ]
)


@st.composite
def near_fast_wire(draw: st.DrawFn) -> bytes:
    blocks = draw(st.lists(_near_fast_block, max_size=20))
    seps = draw(
        st.lists(
            st.sampled_from([b"\n\n", b"\n\n", b"\n\n", b"\n\n\n", b"\n"]),
            min_size=len(blocks),
            max_size=len(blocks),
        )
    )
    body = b"".join(b + sep for b, sep in zip(blocks, seps, strict=True))
    return body + draw(st.sampled_from([b"", b"data: tail", b"data: t\n", b"id: 3\n"]))


def bare(events: Sequence[ServerSentEvent]) -> list[bytes | ServerSentEvent]:
    """What feed_data() gives for these events."""
    return [e.data if e.event == "message" else e for e in events]


def decode_bare(
    pieces: Sequence[bytes],
) -> tuple[list[bytes | ServerSentEvent], str, int | None]:
    decoder = SSEDecoder()
    items: list[bytes | ServerSentEvent] = []
    for piece in pieces:
        items += decoder.feed_data(piece)
    items += decoder.end()
    return items, decoder.last_event_id, decoder.retry


@settings(deadline=None, max_examples=400)
@given(stream=near_fast_wire(), cuts=_cuts)
def test_streams_near_the_fast_path_in_any_chunking(
    stream: bytes, cuts: list[int]
) -> None:
    events, last_id, retry = reference_state(stream)
    assert decode_state([stream]) == (events, last_id, retry)
    assert decode_state(pieces_of(stream, cuts)) == (events, last_id, retry)
    assert decode_bare([stream]) == (bare(events), last_id, retry)
    assert decode_bare(pieces_of(stream, cuts)) == (bare(events), last_id, retry)


@settings(deadline=None, max_examples=300)
@given(stream=sse_wire(), cuts=_cuts)
def test_feed_data_is_feed_without_message_objects(
    stream: bytes, cuts: list[int]
) -> None:
    events, last_id, retry = reference_state(stream)
    assert decode_bare(pieces_of(stream, cuts)) == (bare(events), last_id, retry)


@settings(deadline=None, max_examples=200)
@given(
    stream=st.one_of(sse_wire(), near_fast_wire()),
    cuts=_cuts,
    limit=st.integers(min_value=1, max_value=40),
)
def test_feed_data_size_limit_keeps_earlier_events(
    stream: bytes, cuts: list[int], limit: int
) -> None:
    decoder = SSEDecoder(max_event_size=limit)
    items: list[bytes | ServerSentEvent] = []
    try:
        for piece in pieces_of(stream, cuts):
            items += decoder.feed_data(piece)
    except EventTooLargeError as exc:
        items += exc.events  # type: ignore[arg-type]
        assert items == bare(reference_parse(stream))[: len(items)]
    else:
        items += decoder.end()
        assert items == bare(reference_parse(stream))


@settings(deadline=None, max_examples=200)
@given(
    stream=st.one_of(sse_wire(), near_fast_wire()),
    cuts=_cuts,
    limit=st.integers(min_value=1, max_value=40),
)
def test_feed_size_limit_error_carries_the_earlier_events(
    stream: bytes, cuts: list[int], limit: int
) -> None:
    # feed() builds its events from the same core as feed_data(): the events an
    # EventTooLargeError carries are whole ServerSentEvents, id and retry included.
    decoder = SSEDecoder(max_event_size=limit)
    events: list[ServerSentEvent] = []
    try:
        for piece in pieces_of(stream, cuts):
            events += decoder.feed(piece)
    except EventTooLargeError as exc:
        assert all(type(e) is ServerSentEvent for e in exc.events)
        events += exc.events  # type: ignore[arg-type]
        assert events == reference_parse(stream)[: len(events)]
    else:
        events += decoder.end()
        assert events == reference_parse(stream)


# -- (b) totality ----------------------------------------------------------------------

_interesting_bytes = st.lists(
    st.sampled_from(
        [
            b"\r",
            b"\n",
            b":",
            b" ",
            b"data",
            b"event",
            b"id",
            b"retry",
            b"\x00",
            b"\xef",
            b"\xbb",
            b"\xbf",
            b"\xff",
            b"9",
            b"x",
        ]
    ),
    max_size=60,
).map(b"".join)


@settings(deadline=None, max_examples=400)
@given(
    stream=st.one_of(st.binary(max_size=200), _interesting_bytes),
    cuts=_cuts,
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=64)),
)
def test_arbitrary_bytes_give_events_or_protocol_error(
    stream: bytes, cuts: list[int], limit: int | None
) -> None:
    decoder = SSEDecoder() if limit is None else SSEDecoder(max_event_size=limit)
    try:
        for piece in pieces_of(stream, cuts):
            events = decoder.feed(piece)
            assert isinstance(events, list)
            assert all(type(e) is ServerSentEvent for e in events)
            assert all(type(e.data) is bytes for e in events)
            assert all(isinstance(e.text, str) for e in events)
        assert decoder.end() == []
    except SSEProtocolError:
        # Once failed, always failed.
        try:
            decoder.feed(b"data: x\n\n")
        except SSEProtocolError:
            pass
        else:  # pragma: no cover - the assertion message is the point
            raise AssertionError(
                "decoder kept working after an SSEProtocolError"
            ) from None
    else:
        if limit is None:
            assert decode([stream]) == reference_parse(stream)


# -- (c) round-trip --------------------------------------------------------------------

_line_free_text = st.text(max_size=15).filter(lambda s: "\r" not in s and "\n" not in s)


@st.composite
def event_lists(draw: st.DrawFn) -> list[ServerSentEvent]:
    count = draw(st.integers(0, 12))
    events: list[ServerSentEvent] = []
    retry: int | None = None
    for _ in range(count):
        if draw(st.booleans()):
            # The reconnection time persists: once set it can change, never unset.
            retry = draw(st.integers(0, 10**9))
        events.append(
            ServerSentEvent(
                event=draw(st.one_of(st.just("message"), _line_free_text.filter(bool))),
                data=draw(st.binary(max_size=30).map(lambda b: b.replace(b"\r", b""))),
                id=draw(_line_free_text.filter(lambda s: "\0" not in s)),
                retry=retry,
            )
        )
    return events


def encode(events: Sequence[ServerSentEvent], eol: bytes) -> bytes:
    """A minimal SSE encoder, as a server would write it."""
    out = []
    for event in events:
        if event.event != "message":
            out.append(b"event: " + event.event.encode() + eol)
        out.append(b"id: " + event.id.encode() + eol)
        if event.retry is not None:
            out.append(b"retry: %d" % event.retry + eol)
        out.extend(b"data: " + line + eol for line in event.data.split(b"\n"))
        out.append(eol)
    return b"".join(out)


@settings(deadline=None, max_examples=300)
@given(events=event_lists(), cuts=_cuts, eol=st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_round_trip(events: list[ServerSentEvent], cuts: list[int], eol: bytes) -> None:
    wire = encode(events, eol)
    assert decode([wire]) == events
    assert decode(pieces_of(wire, cuts)) == events
