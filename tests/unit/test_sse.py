"""Example tests for the sans-IO SSE decoder (orq_async._sse).

Every stream here is parsed three ways by :func:`parse` – whole, one byte at a time,
and cut in two at every position – and all three must agree (h11's ``tr`` idiom), so
each example also checks chunk-boundary handling. The WHATWG examples are replayed
verbatim from
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
and the rest cover each rule of that algorithm and the choices it leaves open.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest

from orq_async._exceptions import EventTooLargeError, SSEProtocolError
from orq_async._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder

BOM = b"\xef\xbb\xbf"


def feed_pieces(pieces: Iterable[bytes], **kwargs: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**kwargs)
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.end()
    return events


def parse(stream: bytes) -> list[ServerSentEvent]:
    """Events of ``stream``, checked equal whole, bytewise and split at every point."""
    whole = feed_pieces([stream])
    assert feed_pieces(stream[i : i + 1] for i in range(len(stream))) == whole
    for cut in range(1, len(stream)):
        assert feed_pieces([stream[:cut], stream[cut:]]) == whole, cut
    return whole


def msg(data: bytes, *, event: str = "message", id: str = "") -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=None)


# -- the WHATWG examples, verbatim ---------------------------------------------------


def test_spec_stock_example_joins_data_lines_with_lf() -> None:
    # "The following event stream, once followed by a blank line: ... The event's data
    # attribute would contain the string "YHOO\n+2\n10"."
    stream = b"data: YHOO\ndata: +2\ndata: 10\n"
    assert parse(stream) == []
    assert parse(stream + b"\n") == [msg(b"YHOO\n+2\n10")]


def test_spec_test_stream_example_with_comment_and_ids() -> None:
    stream = (
        b": test stream\n"
        b"\n"
        b"data: first event\n"
        b"id: 1\n"
        b"\n"
        b"data:second event\n"
        b"id\n"
        b"\n"
        b"data:  third event\n"
    )
    first_two = [msg(b"first event", id="1"), msg(b"second event", id="")]
    # "the last still has to end with a blank line, the end of the stream is not
    # enough to trigger the dispatch of the last event."
    assert parse(stream) == first_two
    # "the last block just fires an event with the data " third event" (with a
    # single leading space character)"
    assert parse(stream + b"\n") == [*first_two, msg(b" third event")]


def test_spec_empty_data_example() -> None:
    # "The first block fires events with the data set to the empty string, as would
    # the last block if it was followed by a blank line. The middle block fires an
    # event with the data set to a single newline character. The last block is
    # discarded because it is not followed by a blank line."
    stream = b"data\n\ndata\ndata\n\ndata:"
    assert parse(stream) == [msg(b""), msg(b"\n")]
    assert parse(stream + b"\n\n") == [msg(b""), msg(b"\n"), msg(b"")]


def test_spec_space_after_colon_is_optional() -> None:
    # "The following stream fires two identical events"
    stream = b"data:test\n\ndata: test\n\n"
    assert parse(stream) == [msg(b"test"), msg(b"test")]


# -- line ends ---------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_each_line_end_gives_the_same_events(eol: bytes) -> None:
    stream = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert parse(stream) == [msg(b"a\nb", event="e"), msg(b"c")]


def test_mixed_line_ends() -> None:
    stream = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r"
    assert parse(stream) == [msg(b"a\nb\nc"), msg(b"d")]


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    # If the LF were read as a second line end, the blank line would dispatch "a"
    # on its own, too early.
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"data: b\r\n\r\n") == [msg(b"a\nb")]


def test_lone_cr_at_end_of_feed_dispatches_in_the_same_call() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [msg(b"a")]
    # The LF that might have completed the CRLF is skipped, not read as a blank line.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\r") == [msg(b"b")]


def test_cr_then_lf_blank_line_across_feeds_dispatches_on_the_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\r") == [msg(b"a")]
    assert decoder.feed(b"\n\n") == []


def test_cr_at_end_of_feed_followed_by_other_bytes() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"data: b\n\n") == [msg(b"a\nb")]


def test_lf_only_feed_after_pending_cr_half() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: b\n\ndata: c\n\n") == [msg(b"a\nb"), msg(b"c")]


# -- byte order mark -----------------------------------------------------------------


def test_leading_bom_is_stripped() -> None:
    assert parse(BOM + b"data: a\n\n") == [msg(b"a")]


@pytest.mark.parametrize(
    "pieces",
    [
        [b"\xef", b"\xbb\xbfdata: a\n\n"],
        [b"\xef\xbb", b"\xbfdata: a\n\n"],
        [b"\xef", b"\xbb", b"\xbf", b"data: a\n\n"],
        [BOM, b"data: a\n\n"],
        [b"", BOM, b"", b"data: a\n\n"],
    ],
    ids=["EF|BBBF", "EFBB|BF", "EF|BB|BF", "BOM|data", "empty-feeds"],
)
def test_bom_split_over_feeds_is_stripped(pieces: list[bytes]) -> None:
    assert feed_pieces(pieces) == [msg(b"a")]


def test_bom_later_in_the_stream_is_data() -> None:
    assert parse(b"data: " + BOM + b"x\n\n") == [msg(BOM + b"x")]
    # After the first event, a BOM starts an unknown field name ("\ufeffdata").
    assert parse(b"data: a\n\n" + BOM + b"data: b\n\n") == [msg(b"a")]


def test_only_one_leading_bom_is_stripped() -> None:
    assert parse(BOM + BOM + b"data: a\n\ndata: b\n\n") == [msg(b"b")]


def test_bom_prefix_that_is_not_a_bom_is_kept() -> None:
    # b"\xef\xbb" is held while it could still be a BOM, then given back as bytes of
    # the first line (here making an unknown field name).
    assert parse(b"\xef\xbbdata: a\n\ndata: b\n\n") == [msg(b"b")]
    assert parse(b"\xef\xbb\n\ndata: b\n\n") == [msg(b"b")]


def test_stream_of_only_a_partial_bom() -> None:
    assert feed_pieces([b"\xef", b"\xbb"]) == []


# -- UTF-8 ---------------------------------------------------------------------------


def test_multibyte_characters_split_across_feeds() -> None:
    text = "é€😀 naïve"
    stream = f"event: ünï\nid: ïd€\ndata: {text}\n\n".encode()
    [event] = parse(stream)
    assert event == msg(text.encode(), event="ünï", id="ïd€")
    assert event.text == text


def test_invalid_utf8_never_raises() -> None:
    stream = b"event: a\xffb\nid: \xc3\ndata: \xfe\xc3(\x80\n\n"
    [event] = parse(stream)
    # data stays raw bytes; only .text decodes, with U+FFFD.
    assert event.data == b"\xfe\xc3(\x80"
    assert event.text == "\ufffd\ufffd(\ufffd"
    assert event.event == "a\ufffdb"
    assert event.id == "\ufffd"


@pytest.mark.parametrize(
    "char",
    ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"],
    ids=["U+2028", "U+2029", "U+0085", "VT", "FF", "FS", "GS", "RS"],
)
def test_only_cr_and_lf_end_lines(char: str) -> None:
    value = f'{{"text": "a{char}b"}}'.encode()
    assert parse(b"data: " + value + b"\n\n") == [msg(value)]
    assert parse(f"event: x{char}y\ndata\n\n".encode()) == [msg(b"", event=f"x{char}y")]


# -- field syntax --------------------------------------------------------------------


def test_data_with_no_colon_appends_an_empty_line() -> None:
    assert parse(b"data: a\ndata\ndata: b\n\n") == [msg(b"a\n\nb")]


def test_data_colon_with_no_space() -> None:
    assert parse(b"data:a\n\n") == [msg(b"a")]


def test_exactly_one_space_is_removed() -> None:
    assert parse(b"data:  x\n\n") == [msg(b" x")]
    assert parse(b"data:   \n\n") == [msg(b"  ")]
    assert parse(b"event:  e\ndata: x\n\n") == [msg(b"x", event=" e")]


def test_space_before_colon_makes_an_unknown_field() -> None:
    assert parse(b"data : x\ndata: y\n\n") == [msg(b"y")]
    assert parse(b"data :x\n\n") == []


def test_field_names_are_case_sensitive() -> None:
    assert parse(b"Data: x\nDATA: y\nEvent: e\ndata: z\n\n") == [msg(b"z")]


def test_later_colons_belong_to_the_value() -> None:
    assert parse(b'data: {"a": "b:c"}:\n\n') == [msg(b'{"a": "b:c"}:')]
    assert parse(b"event: a:b\ndata::\n\n") == [msg(b":", event="a:b")]


def test_unknown_fields_are_ignored() -> None:
    stream = b"foo: bar\nretry2: 5\nids: 9\ndata: x\nxyz\n\n"
    assert parse(stream) == [msg(b"x")]


def test_comments_are_ignored_anywhere() -> None:
    stream = b":\n: keep-alive\ndata: a\n:: data: b\ndata: c\n\n"
    assert parse(stream) == [msg(b"a\nc")]


def test_event_field_sets_the_type_for_one_event_only() -> None:
    stream = b"event: delta\ndata: a\n\ndata: b\n\n"
    assert parse(stream) == [msg(b"a", event="delta"), msg(b"b")]


def test_last_event_field_wins() -> None:
    assert parse(b"event: a\nevent: b\ndata: x\n\n") == [msg(b"x", event="b")]


def test_empty_event_field_dispatches_as_message() -> None:
    assert parse(b"event: a\nevent\ndata: x\n\n") == [msg(b"x")]


# -- blocks that dispatch nothing ----------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [b": comment", b"event: ping", b"id: 5", b"retry: 1000", b"foo: bar", b""],
    ids=["comment", "event", "id", "retry", "unknown", "blank"],
)
def test_blocks_without_data_dispatch_nothing(block: bytes) -> None:
    assert parse(block + b"\n\n") == []


def test_repeated_blank_lines_dispatch_nothing() -> None:
    assert parse(b"\n\n\n\ndata: a\n\n\n\n\r\n\r\rdata: b\n\n\n") == [
        msg(b"a"),
        msg(b"b"),
    ]


def test_event_only_block_does_not_leak_its_type() -> None:
    # Spec dispatch step 2: an empty data buffer clears the event type buffer too.
    assert parse(b"event: ping\n\ndata: x\n\n") == [msg(b"x")]


# -- id --------------------------------------------------------------------------------


def test_id_applies_to_its_own_event_and_persists() -> None:
    stream = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\n"
    assert parse(stream) == [msg(b"a", id="1"), msg(b"b", id="1"), msg(b"c", id="2")]


def test_id_with_nul_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert parse(stream) == [msg(b"a", id="1"), msg(b"b", id="1")]


@pytest.mark.parametrize(
    "line", [b"id", b"id:", b"id: "], ids=["bare", "colon", "space"]
)
def test_empty_id_resets_the_last_event_id(line: bytes) -> None:
    stream = b"id: 1\ndata: a\n\n" + line + b"\ndata: b\n\n"
    assert parse(stream) == [msg(b"a", id="1"), msg(b"b", id="")]


def test_last_event_id_is_published_on_blank_lines() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id == ""
    decoder.feed(b"id: 7\n")
    # Not yet: the spec publishes the id buffer when the block ends.
    assert decoder.last_event_id == ""
    assert decoder.feed(b"\n") == []
    assert decoder.last_event_id == "7"
    assert decoder.feed(b"data: x\n\n") == [msg(b"x", id="7")]
    assert decoder.last_event_id == "7"


def test_id_of_an_event_cut_off_by_eof_is_never_published() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    assert decoder.end() == []
    assert decoder.last_event_id == "1"


# -- retry -----------------------------------------------------------------------------


def test_retry_sets_the_reconnection_time() -> None:
    assert SSEDecoder().retry is None
    decoder = SSEDecoder()
    # It takes effect when the line is parsed, not at dispatch.
    assert decoder.feed(b"retry: 1500\n") == []
    assert decoder.retry == 1500
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent("message", b"x", "", 1500)]
    assert decoder.feed(b"retry:0\ndata: y\n\n") == [
        ServerSentEvent("message", b"y", "", 0)
    ]


@pytest.mark.parametrize(
    "value",
    [
        b"-5",
        b" 7",  # "retry:  7": one space is removed, the other is not a digit
        b"1_000",
        b"1.5",
        b"",
        b"+5",
        b"1e3",
        b"0x10",
        b"7 ",
        "\u0663".encode(),  # ARABIC-INDIC DIGIT THREE: a digit, but not ASCII
        b"\xff",
        b"1" * 65,  # absurdly long: ignored instead of a slow/failing int()
    ],
    ids=lambda v: repr(v)[:20],
)
def test_retry_that_is_not_only_ascii_digits_is_ignored(value: bytes) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: 300\n\nretry: " + value + b"\ndata: x\n\n")
    assert decoder.retry == 300
    assert events == [ServerSentEvent("message", b"x", "", 300)]


def test_retry_with_leading_zeros() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: " + b"0" * 100 + b"2500\n")
    assert decoder.retry == 2500


# -- multi-line data -----------------------------------------------------------------


def test_multiline_data_with_empty_lines() -> None:
    stream = b"data: a\ndata\ndata:\ndata: \ndata: b\ndata:\n\n"
    assert parse(stream) == [msg(b"a\n\n\n\nb\n")]


def test_interleaved_fields_inside_one_event() -> None:
    stream = b"data: a\nevent: e\n: c\nid: 3\ndata: b\nretry: 9\n\n"
    assert parse(stream) == [ServerSentEvent("e", b"a\nb", "3", 9)]


# -- end of input ----------------------------------------------------------------------


def test_eof_mid_event_discards_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\nevent: e\n") == [msg(b"a")]
    assert decoder.end() == []


def test_eof_mid_line_discards_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b") == [msg(b"a")]
    assert decoder.end() == []


def test_feed_after_end_raises() -> None:
    decoder = SSEDecoder()
    decoder.end()
    assert decoder.end() == []
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"data: a\n\n")
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"")


def test_end_on_a_fresh_decoder() -> None:
    assert SSEDecoder().end() == []


# -- read sizes ------------------------------------------------------------------------


def test_one_byte_reads_of_a_whole_stream() -> None:
    stream = (
        BOM
        + b": hi\r\nretry: 10\r\nevent: a\r\ndata: x\r\n\r\n"
        + b"id: 1\rdata: y\rdata: z\r\r"
        + b"data: \xe2\x82\xac\n\n"
    )
    events = feed_pieces(stream[i : i + 1] for i in range(len(stream)))
    assert events == [
        ServerSentEvent("a", b"x", "", 10),
        ServerSentEvent("message", b"y\nz", "1", 10),
        ServerSentEvent("message", "€".encode(), "1", 10),
    ]


def test_ten_thousand_events_in_one_read() -> None:
    stream = b"".join(b'data: {"i": %d}\n\n' % i for i in range(10_000))
    events = SSEDecoder().feed(stream)
    assert events == [msg(b'{"i": %d}' % i) for i in range(10_000)]


def test_ten_thousand_multiline_events_in_one_read() -> None:
    stream = b"".join(
        b"id: %d\r\nevent: e\r\ndata: %d\r\n\r\n" % (i, i) for i in range(10_000)
    )
    events = SSEDecoder().feed(stream)
    assert events == [msg(b"%d" % i, event="e", id=str(i)) for i in range(10_000)]


def test_fast_and_general_blocks_mixed_in_one_read() -> None:
    stream = (
        b"data: a\n\ndata:b\n\nevent: e\ndata: c\n\ndata: d\n\n: ping\n\n"
        b"data: e\n\n\n\ndata: f\ndata: g\n\nid: 9\n\ndata: h\n\ndata: i"
    )
    assert parse(stream) == [
        msg(b"a"),
        msg(b"b"),
        msg(b"c", event="e"),
        msg(b"d"),
        msg(b"e"),
        msg(b"f\ng"),
        msg(b"h", id="9"),
    ]


def test_events_after_a_pending_id_carry_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [msg(b"a")]
    assert decoder.feed(b"id: 4\n") == []
    assert decoder.feed(b"data: b\n\n") == [msg(b"b", id="4")]
    assert decoder.last_event_id == "4"
    assert decoder.feed(b"data: c\n\ndata: d\n\n") == [
        msg(b"c", id="4"),
        msg(b"d", id="4"),
    ]


def test_several_events_after_a_pending_id_publish_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [msg(b"a")]
    assert decoder.feed(b"id: 4\n") == []
    assert decoder.last_event_id == ""
    assert decoder.feed(b"data: b\n\ndata: c\n\n") == [
        msg(b"b", id="4"),
        msg(b"c", id="4"),
    ]
    assert decoder.last_event_id == "4"


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_feed_accepts_bytearray_and_memoryview(
    kind: type[bytearray | memoryview],
) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(kind(b"data: a\n\n")) == [msg(b"a")]
    [event] = decoder.feed(kind(b"data: b\n\n"))
    assert type(event.data) is bytes


def test_four_mib_event_in_1kib_pieces_is_linear() -> None:
    # A behaviour guard against quadratic buffering, not a benchmark: the parse
    # takes a few ms; re-copying the buffer per piece would take seconds.
    payload = b"x" * (4 * 1024 * 1024)
    stream = b"data: " + payload + b"\n\n"
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    start = time.perf_counter()
    for i in range(0, len(stream), 1024):
        events += decoder.feed(stream[i : i + 1024])
    elapsed = time.perf_counter() - start
    assert events == [msg(payload)]
    assert elapsed < 1.0


def test_four_mib_crlf_event_in_1kib_pieces_is_linear() -> None:
    line = b"data: " + b"y" * 1000 + b"\r\n"
    stream = line * 4096 + b"\r\n"
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    start = time.perf_counter()
    for i in range(0, len(stream), 1024):
        events += decoder.feed(stream[i : i + 1024])
    elapsed = time.perf_counter() - start
    assert [len(e.data) for e in events] == [1001 * 4096 - 1]
    assert elapsed < 1.0


# -- size limit ------------------------------------------------------------------------


def test_default_limit() -> None:
    assert DEFAULT_MAX_EVENT_SIZE == 8 * 1024 * 1024


def test_huge_line_without_newline_raises_early_and_poisons() -> None:
    limit = 8 * 1024 * 1024
    piece = b"x" * 65536
    decoder = SSEDecoder(max_event_size=limit)
    decoder.feed(b"data: ")
    fed = 6
    with pytest.raises(EventTooLargeError):
        for _ in range(16 * 1024 * 1024 // len(piece)):
            decoder.feed(piece)
            fed += len(piece)
    # Raised on the first piece that crossed the limit, not at the end of the line.
    assert limit < fed + len(piece) <= limit + len(piece)
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"\n\ndata: ok\n\n")
    with pytest.raises(SSEProtocolError):
        decoder.end()


def test_sixteen_mib_line_in_one_read_raises() -> None:
    decoder = SSEDecoder()
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"x" * (16 * 1024 * 1024) + b"\n\n")
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"data: ok\n\n")


@pytest.mark.parametrize(
    "pieces",
    [
        [b"data: 12345678\n\n"],
        [b"data: 1234", b"5678\n\n"],
        [b"data: 12345678\r\n\r\n"],
    ],
    ids=["whole", "split", "crlf"],
)
def test_limit_is_inclusive(pieces: list[bytes]) -> None:
    # The line "data: 12345678" is 14 bytes: allowed at 14, refused at 13.
    assert feed_pieces(pieces, max_event_size=14) == [msg(b"12345678")]
    with pytest.raises(EventTooLargeError):
        feed_pieces(pieces, max_event_size=13)


def test_limit_counts_the_whole_data_buffer() -> None:
    decoder = SSEDecoder(max_event_size=100)
    # Each line adds 11 bytes ("0123456789" + LF) to the data buffer.
    decoder.feed(b"data:0123456789\n" * 8)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data:0123456789\n" * 2)


def test_limit_resets_after_each_event() -> None:
    decoder = SSEDecoder(max_event_size=20)
    for _ in range(100):
        assert decoder.feed(b"data: 0123456789\n\n") == [msg(b"0123456789")]


def test_limit_applies_to_comment_lines_too() -> None:
    decoder = SSEDecoder(max_event_size=50)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b": " + b"x" * 100 + b"\n")


def test_event_too_large_is_a_protocol_error() -> None:
    assert issubclass(EventTooLargeError, SSEProtocolError)


@pytest.mark.parametrize("size", [0, -1])
def test_max_event_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(max_event_size=size)


# -- the stream terminator -------------------------------------------------------------


def test_done_sentinel_followed_by_trailing_bytes() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'data: {"x": 1}\n\ndata: [DONE]\n\ngarbage\x00\xff')
    assert events == [msg(b'{"x": 1}'), msg(b"[DONE]")]
    assert decoder.end() == []


def test_done_sentinel_then_more_events_are_still_parsed() -> None:
    # Stopping at [DONE] is the stream layer's decision, not the parser's.
    assert parse(b"data: [DONE]\n\ndata: late\n\n") == [msg(b"[DONE]"), msg(b"late")]


# -- the event type --------------------------------------------------------------------


def test_server_sent_event_defaults_equality_and_repr() -> None:
    event = ServerSentEvent()
    assert event == ServerSentEvent("message", b"", "", None)
    assert event != ServerSentEvent(data=b"x")
    assert hash(event) == hash(ServerSentEvent())
    assert repr(ServerSentEvent(data=b"x", id="1")) == (
        "ServerSentEvent(event='message', data=b'x', id='1', retry=None)"
    )


def test_server_sent_event_is_frozen() -> None:
    event = ServerSentEvent()
    with pytest.raises(AttributeError):
        event.data = b"x"  # type: ignore[misc]


def test_text_decodes_with_replacement() -> None:
    assert ServerSentEvent(data="héllo".encode()).text == "héllo"
    assert ServerSentEvent(data=b"\xff").text == "\ufffd"
