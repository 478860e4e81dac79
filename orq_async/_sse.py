"""Incremental sans-IO ``text/event-stream`` parser: bytes in, events out, never awaits.

Contract: :class:`SSEDecoder` is a pure state machine. The I/O shell hands it whatever
bytes the socket produced (any size, cut anywhere) through :meth:`SSEDecoder.feed` and
gets back the events those bytes completed; at EOF it calls :meth:`SSEDecoder.end`. It
never blocks, never awaits, reads no clock and imports nothing from asyncio, anyio or
aiohttp (``tests/unit/test_layering.py`` checks this). The only exception it raises is
:class:`~orq_async._exceptions.SSEProtocolError` (and its subclass
:class:`~orq_async._exceptions.EventTooLargeError`).

The rules are the WHATWG "Interpreting an event stream" algorithm:
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
(``docs/streaming.md`` describes the behaviour). Deliberate choices the spec leaves
open:

* We work on **bytes**, not text. CR (0x0D) and LF (0x0A) never occur inside a
  multi-byte UTF-8 sequence, so splitting lines on bytes first is exactly equivalent to
  the spec's "decode, then split" and needs no incremental text decoder. A side effect
  is that U+2028, U+2029, U+0085, VT, FF and FS/GS/RS can never end a line.
* ``data`` stays raw bytes (it goes straight to msgspec); only ``event`` and ``id``
  values are decoded, with ``errors="replace"`` as the spec's UTF-8 decode requires.
* A configurable maximum event size bounds memory (the spec sets no limit).
* A ``retry`` value with an absurd number of digits is ignored rather than converted
  (see :data:`_MAX_RETRY_DIGITS`).
"""

from __future__ import annotations

from typing import final

import msgspec

from orq_async._exceptions import EventTooLargeError, SSEProtocolError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent"]

#: Default bound, in bytes, on one not-yet-dispatched event (its data buffer plus the
#: line being read). Completion chunks are a few hundred bytes; 8 MiB leaves room for
#: huge tool-call payloads while still bounding memory against a hostile server.
DEFAULT_MAX_EVENT_SIZE: int = 8 * 1024 * 1024
#: Shared and never appended to: "no feed in progress" for SSEDecoder._out.
_NO_EVENTS: list[bytes | ServerSentEvent] = []
#: Shared and never appended to: the empty data buffer (see SSEDecoder._parts).
_NO_PARTS: list[bytes] = []

# U+FEFF in UTF-8. The spec decodes the stream with "UTF-8 decode", which drops one
# leading BOM, and its grammar says "One leading U+FEFF BYTE ORDER MARK character must
# be ignored if any are present"; any later BOM is ordinary content.
_BOM = b"\xef\xbb\xbf"
_LF = 0x0A  # indexing bytes gives ints, so compare with ints
_CR = 0x0D
_COLON = 0x3A

# A retry value is "only ASCII digits, interpreted in base ten". Python's int() refuses
# more than 4300 digits (and is superlinear before that), and no reconnection delay
# needs more than a handful, so a value with more significant digits than this is
# ignored like any other unusable retry value instead of raising ValueError.
_MAX_RETRY_DIGITS = 64


@final
class ServerSentEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event.

    A frozen msgspec ``Struct``: about 4x cheaper to build than a ``__slots__`` class
    with a Python ``__init__``, and it brings ``==``, ``hash`` and a readable ``repr``.
    ``gc=False`` is safe because the fields are atoms (str, bytes, int) and can never
    form a reference cycle.

    :ivar event: The event type; ``"message"`` when the event had no ``event`` field.
    :ivar data: The ``data`` lines joined with LF (the final LF removed), as raw,
        undecoded bytes.
    :ivar id: The last event id in effect at dispatch (``""`` if none was ever set).
    :ivar retry: The reconnection time, in milliseconds, in effect at dispatch
        (``None`` if the stream never set one).
    """

    event: str = "message"
    data: bytes = b""
    id: str = ""
    retry: int | None = None

    @property
    def text(self) -> str:
        """``data`` decoded as UTF-8, invalid bytes as U+FFFD; never raises."""
        return self.data.decode("utf-8", "replace")


@final
class SSEDecoder:
    """Turn a byte stream, cut into pieces anywhere, into :class:`ServerSentEvent` s.

    Feeding the same bytes in any chunking yields the same events. After any
    :class:`SSEProtocolError` the decoder is *poisoned*: every later :meth:`feed` or
    :meth:`end` raises :class:`SSEProtocolError` again (the stream's state is unknown,
    so there is no safe way to continue). After :meth:`end`, :meth:`feed` raises
    :class:`SSEProtocolError` too; calling :meth:`end` again returns ``[]``.

    :param max_event_size: Largest not-yet-dispatched event, in bytes, counted as the
        data buffer plus the line being read (partial or complete, field name
        included). Exceeding it raises :class:`EventTooLargeError`. The check only
        depends on the bytes, not on how they were cut into feeds.
    :raises ValueError: if ``max_event_size`` is not positive.
    """

    __slots__ = (
        "_bare",
        "_between",
        "_bom_hold",
        "_buf",
        "_data_len",
        "_ended",
        "_event",
        "_id_buf",
        "_last_id",
        "_max",
        "_out",
        "_parts",
        "_poisoned",
        "_retry",
        "_skip_lf",
        "_started",
    )

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        self._max = max_event_size
        # The partial line: bytes after the last line end seen so far. It never holds
        # a CR or LF, so each feed only scans the *new* bytes for line ends: total work
        # stays linear however small the reads (no `buf += piece` then re-scan).
        # The first piece is kept as it came; a second one turns it into a bytearray,
        # whose `+=` appends in place (amortised O(1)): a 4 MiB line arriving in 1 KiB
        # reads costs one copy, not 4096 growing ones.
        self._buf: bytes | bytearray = b""
        # The spec's data buffer, kept as the list of data values: "value + LF" per
        # line and "remove the last LF" at dispatch is exactly b"\n".join(parts).
        # A non-empty list <=> a non-empty data buffer (`data:` alone appends an LF).
        self._parts: list[bytes] = _NO_PARTS  # a list of its own once appended to
        # Bytes the data buffer would hold (sum of len(value) + 1), for the size limit.
        self._data_len = 0
        # The event type buffer; "" means "not set" and dispatches as "message".
        self._event = ""
        # The spec's "last event ID buffer", set by `id:` lines as they are parsed...
        self._id_buf = ""
        # ...and the "last event ID string" it is published to on every blank line.
        self._last_id = ""
        # The reconnection time; per spec it takes effect when `retry:` is parsed.
        self._retry: int | None = None
        # True after a CR that ended a line at the very end of a feed. That CR ended
        # the line at once (we never wait for more data to decide, or a lone-CR stream
        # would stall), so an LF opening the next feed is the second half of a CRLF and
        # must be skipped, not read as a blank line (which would dispatch too early).
        self._skip_lf = False
        # The BOM is only stripped at the very start of the stream, and it may arrive
        # split over feeds: hold up to two leading bytes while they are a BOM prefix.
        self._started = False
        self._bom_hold = b""
        self._poisoned = False
        self._ended = False
        # The events of the feed in progress (see _too_large), else the shared empty
        # list, so a finished read's events are not kept alive.
        self._out: list[bytes | ServerSentEvent] = _NO_EVENTS
        # The feed in progress hands "message" events out as bare data (feed_data).
        self._bare = False
        # True while the fast path may take the next read (kept by _sync_flags):
        # started, usable, and between events: an empty data buffer, no event type,
        # no CRLF half pending. A partial line may be pending; a pending id or retry
        # does not matter (those fields took effect when their line was parsed).
        self._between = False

    @property
    def last_event_id(self) -> str:
        """The last event id published so far: the spec's "last event ID string".

        ``id:`` lines are published by the next blank line (whether or not it
        dispatches an event), so an id in an event cut off by EOF never shows here.
        This is the value an EventSource would send as ``Last-Event-ID``.
        """
        return self._last_id

    @property
    def max_event_size(self) -> int:
        """The largest event accepted, in bytes."""
        return self._max

    @property
    def receiving_data(self) -> bool:
        """Whether a ``data`` field is partly received: its event is progressing.

        A stream's idle limit counts the wait for data, so bytes of a slowly
        arriving data event are progress; comments and other fields are not.
        """
        return bool(self._parts) or self._buf[:4] == b"data"

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds, or ``None`` if never set."""
        return self._retry

    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Parse the next piece of the stream.

        :param data: Any number of bytes, cut anywhere (even inside a CRLF, the BOM or
            a UTF-8 character).
        :return: The events these bytes completed, in order (often empty).
        :raises EventTooLargeError: if the pending event grew past ``max_event_size``.
        :raises SSEProtocolError: if the decoder is poisoned by an earlier error or
            :meth:`end` was already called.
        """
        self._bare = False  # every event is built as a ServerSentEvent
        return self._feed(data)  # type: ignore[return-value]

    def feed_data(
        self, data: bytes | bytearray | memoryview
    ) -> list[bytes | ServerSentEvent]:
        """:meth:`feed` for a reader of message data: the same events, in the same
        order, but each event of type ``"message"`` comes as its ``data`` alone
        (bytes) and any other event as a :class:`ServerSentEvent`.

        Builds no object per message event (the id and retry of those are not
        given; :attr:`last_event_id` and :attr:`retry` still track them). An
        :class:`EventTooLargeError` carries its earlier events in this form too.
        """
        self._bare = True
        if self._between and type(data) is bytes and 13 not in data:
            # The dispatcher's test for the fast path (see _feed), inlined here:
            # one call less on the commonest read of a streaming client.
            return self._feed_skipping_lines(data)
        return self._feed(data)

    def end(self) -> list[ServerSentEvent]:
        """Signal the end of the stream.

        Per the spec, a partly received event (no final blank line, or a final line
        with no line end) is discarded, so this always returns ``[]``: a lone CR at the
        end of the last feed already ended its line inside :meth:`feed`. The list return
        keeps the shape of :meth:`feed` for the caller.

        :return: ``[]``.
        :raises SSEProtocolError: if the decoder is poisoned by an earlier error.
        """
        if self._poisoned:
            raise SSEProtocolError("SSE decoder is unusable after an earlier error")
        self._ended = True
        self._drop_pending()
        return []

    # -- one read: the dispatcher ---------------------------------------------------

    def _feed(
        self, data: bytes | bytearray | memoryview
    ) -> list[bytes | ServerSentEvent]:
        """Route one read: the fast path when it applies, else the spec machine."""
        if type(data) is not bytes:
            data = bytes(data)
        if not self._between:
            # The first read (BOM), a dead decoder, a CRLF half or a pending event:
            # settle what only the start of a read can decide, which may make the
            # rest of the read eligible for the fast path.
            data = self._prologue(data)
        # `13 in data` is one memchr (about 10x cheaper than `b"\r" in data` on
        # CPython): any CR, a line end the fast path does not know, takes the machine.
        if self._between and 13 not in data:
            return self._feed_skipping_lines(data)
        return self._feed_general(data, [])

    def _prologue(self, data: bytes) -> bytes:
        """Apply what happens before any line of a read; return the rest of ``data``.

        :raises SSEProtocolError: if the decoder is poisoned or ended.
        """
        if self._poisoned:
            raise SSEProtocolError("SSE decoder is unusable after an earlier error")
        if self._ended:
            self._poison()
            raise SSEProtocolError("feed() called after end()")
        if not self._started:
            # "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are
            # present" - only at the very start, which may arrive a byte at a time.
            data = self._bom_hold + data
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._bom_hold = data
                return b""
            self._started = True
            self._bom_hold = b""
            if data.startswith(_BOM):
                data = data[3:]
        if self._skip_lf and data:
            # The previous feed ended with a CR that already ended a line; an LF here
            # completes that CRLF and is not a line end of its own.
            self._skip_lf = False
            if data[0] == _LF:
                data = data[1:]
        self._sync_flags()
        return data

    # -- the one fast path ------------------------------------------------------------

    def _feed_skipping_lines(self, data: bytes) -> list[bytes | ServerSentEvent]:
        """Take a read of whole one-line ``data: `` events without the line machine.

        Called between events with LF-only ``data``. Real completion traffic is a
        run of ``data: {...}\\n\\n`` blocks, usually one per read. Each such block
        is, by the spec's rules, one "data" field (one space removed), whose value
        becomes the whole data buffer, then a blank line that publishes the id
        buffer and dispatches a "message" event with that value. So the events are
        slices of the read: no per-line split, no field lookup, no join. Anything
        else (several lines in a block, another field, a comment, a blank-line run,
        ``data:`` without the space, an event over the size limit) sends the whole
        read to the spec machine, which gives the same events, only slower.
        """
        if self._buf:
            # The read completes a line cut off by the previous read, usually the
            # `data: ` line of an event split in two: rejoin it and go on as if the
            # event had come whole. Without a line end, it is more of that line.
            if 10 not in data:  # 10 is LF
                self._add_partial(data)
                return []
            data = self._take_partial(data)
        # Whole blocks up to the last blank line ("\n\n"), and what follows it.
        head, blank, tail = data.rpartition(b"\n\n")
        if blank and head.startswith(b"data: "):
            # Split on the separator *and* the next field name: every value in one
            # C call. That is right exactly when no value holds an LF (an LF would
            # mean a second line, or a block that is not `data: `), which one
            # memchr over the joined values checks (a lone value joins to itself).
            values = head.split(b"\n\ndata: ")
            values[0] = values[0][6:]  # only the first block keeps its `data: `
            limit = self._max
            if 10 not in b"".join(values) and (
                # The line machine's limit is on the `data: value` line (6 bytes
                # more than the value); the blocks can only be over it if the
                # whole run is.
                len(head) <= limit or max(map(len, values)) <= limit - 6
            ):
                # Spec dispatch, step 1, for each block's blank line: "Set the last
                # event ID string ... to the value of the last event ID buffer."
                self._last_id = self._id_buf
                events: list[bytes | ServerSentEvent] = values  # type: ignore[assignment]
                if not self._bare:
                    events = [
                        ServerSentEvent("message", v, self._id_buf, self._retry)
                        for v in values
                    ]
                if tail:
                    # A partial event after the last blank line: the machine keeps it.
                    self._feed_general(tail, events)
                return events
        return self._feed_general(data, [])

    # -- the spec machine ---------------------------------------------------------

    def _feed_general(
        self, data: bytes, events: list[bytes | ServerSentEvent]
    ) -> list[bytes | ServerSentEvent]:
        """Consume ``data`` line by line, appending the events to ``events``.

        Takes any bytes after :meth:`_prologue` (CR, LF and CRLF line ends, any
        field, any state) and returns ``events``.
        """
        # Recorded so an EventTooLargeError can carry the events that completed
        # earlier in this read (see _too_large).
        self._out = events
        if data:
            # bytes.splitlines() breaks at exactly LF, CR and CRLF - the spec's three
            # line ends - unlike str.splitlines(), which also breaks at U+2028, U+0085,
            # VT, FF, FS/GS/RS... and would cut JSON that holds them unescaped. It is
            # one linear C pass, and CRLF split over two feeds is handled by _skip_lf.
            lines = data.splitlines()
            last = data[-1]
            # The last line has no line end yet unless the read ended on CR or LF.
            partial = lines.pop() if last != _CR and last != _LF else b""
            if lines and self._buf:
                # The first line completes the partial line from earlier feeds.
                lines[0] = self._take_partial(lines[0])
            for line in lines:
                self._line(line, events)
            if partial:
                self._add_partial(partial)
            # A lone CR at the end of the read ended its line now (see _skip_lf).
            self._skip_lf = last == _CR
        self._sync_flags()
        self._out = _NO_EVENTS
        return events

    def _add_partial(self, piece: bytes) -> None:
        """Keep ``piece`` as (more of) the line still being received."""
        # Enforced on every feed, even with no line end in sight, so a never-ending
        # line fails as soon as it crosses the limit and memory stays bounded by
        # about max_event_size.
        buf = self._buf
        if self._data_len + len(buf) + len(piece) > self._max:
            self._too_large()
        if not buf:
            self._buf = piece  # usually completed by the next read: no copy yet
        elif type(buf) is bytes:
            self._buf = bytearray(buf) + piece  # a third piece appends in place
        else:
            buf += piece

    def _take_partial(self, head: bytes) -> bytes:
        """Complete the buffered partial line with ``head``; return the whole line."""
        line = b"".join((self._buf, head))
        self._buf = b""
        return line

    def _line(self, line: bytes, events: list[bytes | ServerSentEvent]) -> None:
        """Apply one complete line (spec: "process the field" or dispatch)."""
        if not line:
            # "If the line is empty (a blank line): Dispatch the event."
            self._dispatch(events)
            return
        if self._data_len + len(line) > self._max:
            self._too_large()
        if line[0] == _COLON:
            # "If the line starts with a U+003A COLON character: Ignore the line."
            # Servers and proxies send these as keep-alives.
            return
        colon = line.find(b":")
        if colon < 0:
            # "Otherwise, the string is not empty but does not contain a U+003A COLON
            # character: process the field using the whole line as the field name, and
            # the empty string as the field value."
            field = line
            value = b""
        else:
            # Field name before the *first* colon; later colons belong to the value.
            field = line[:colon]
            # "If value starts with a U+0020 SPACE character, remove it" - exactly one.
            start = colon + 2 if line[colon + 1 : colon + 2] == b" " else colon + 1
            value = line[start:]
        self._field(field, value)

    def _field(self, field: bytes, value: bytes) -> None:
        """The spec's "process the field" steps for one name and value."""
        # Field names compare exactly (case-sensitive, no trimming): "Data" and "data "
        # are unknown fields and fall through to "ignore the field".
        if field == b"data":
            # "Append the field value to the data buffer, then append a single U+000A
            # LINE FEED (LF) character to the data buffer."
            if self._parts:
                self._parts.append(value)
            else:
                self._parts = [value]
            self._data_len += len(value) + 1
        elif field == b"event":
            # "Set the event type buffer to the field value."
            self._event = value.decode("utf-8", "replace")
        elif field == b"id":
            # "If the field value does not contain U+0000 NULL, then set the last event
            # ID buffer to the field value. Otherwise, ignore the field." An empty
            # value therefore resets the id to "".
            if 0 not in value:
                self._id_buf = value.decode("utf-8", "replace")
        elif field == b"retry":
            # "If the field value consists of only ASCII digits, then interpret the
            # field value as an integer in base ten, and set the event stream's
            # reconnection time to that integer. Otherwise, ignore the field."
            # bytes.isdigit() is ASCII-only and False for b"", unlike str.isdigit(),
            # so "-5", " 7", "1_000", "1.5" and "" are all ignored.
            if value.isdigit() and len(value.lstrip(b"0")) <= _MAX_RETRY_DIGITS:
                self._retry = int(value)
        # "Otherwise: The field is ignored."

    def _dispatch(self, events: list[bytes | ServerSentEvent]) -> None:
        """Handle a blank line (spec: "dispatch the event")."""
        # 1. "Set the last event ID string of the event source to the value of the last
        #    event ID buffer." This happens even when nothing is dispatched.
        self._last_id = self._id_buf
        parts = self._parts
        if parts:
            # 3./4. "If the data buffer's last character is a U+000A LINE FEED (LF)
            #    character, then remove the last character": joining the values with
            #    LF is the buffer minus that final LF. An empty type means "message".
            data = parts[0] if len(parts) == 1 else b"\n".join(parts)
            event = self._event or "message"
            if self._bare and event == "message":
                events.append(data)
            else:
                events.append(ServerSentEvent(event, data, self._id_buf, self._retry))
            self._parts = _NO_PARTS
            self._data_len = 0
        # 2./5. "If the data buffer is an empty string, set the data buffer and the
        #    event type buffer to the empty string and return" - and after dispatching
        #    both are reset too. The id buffer is deliberately *not* reset.
        self._event = ""

    # -- state bookkeeping ------------------------------------------------------------

    def _sync_flags(self) -> None:
        self._between = (
            self._started
            and not self._poisoned
            and not self._ended
            and not (self._parts or self._event or self._skip_lf)
        )

    def _drop_pending(self) -> None:
        # Release the partial event: it will never be dispatched.
        self._buf = b""
        self._parts = _NO_PARTS
        self._data_len = 0
        self._event = ""
        self._sync_flags()

    def _too_large(self) -> None:
        self._poison()
        error = EventTooLargeError(
            f"server-sent event exceeded the maximum size of {self._max} bytes"
        )
        # Events completed earlier in the same read are not lost: the caller can
        # deliver them before raising, whatever the read boundaries were.
        error.events = list(self._out)
        raise error

    def _poison(self) -> None:
        self._poisoned = True
        self._drop_pending()
