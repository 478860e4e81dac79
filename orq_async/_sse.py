"""Incremental sans-IO ``text/event-stream`` parser: bytes in, events out, never awaits.

Contract: :class:`SSEDecoder` is a pure state machine. The I/O shell hands it whatever
bytes the socket produced (any size, cut anywhere) through :meth:`SSEDecoder.feed` and
gets back the events those bytes completed; at EOF it calls :meth:`SSEDecoder.end`. It
never blocks, never awaits, reads no clock and imports nothing from asyncio, anyio or
aiohttp (``tests/test_layering.py`` checks this). The only exception it raises is
:class:`~orq_async._exceptions.SSEProtocolError` (and its subclass
:class:`~orq_async._exceptions.EventTooLargeError`).

The rules are the WHATWG "Interpreting an event stream" algorithm:
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
(summarised in ``sse-and-faults.md`` §2). Deliberate choices the spec leaves open:

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

from collections.abc import Sequence
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

    :param event: The event type; ``"message"`` when the event had no ``event`` field.
    :param data: The ``data`` lines joined with LF (the final LF removed), as raw,
        undecoded bytes.
    :param id: The last event id in effect at dispatch (``""`` if none was ever set).
    :param retry: The reconnection time, in milliseconds, in effect at dispatch
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
        "_block_id",
        "_block_retry",
        "_bom_hold",
        "_buf",
        "_data_len",
        "_ended",
        "_event",
        "_id_buf",
        "_idle",
        "_last_id",
        "_lf_ok",
        "_max",
        "_parts",
        "_out",
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
        # A bytearray, because `+=` on it appends in place (amortised O(1)): a 4 MiB
        # line arriving in 1 KiB reads costs one copy, not 4096 growing ones.
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
        # The output list of the feed in progress (see _too_large), else empty.
        self._out: list[bytes | ServerSentEvent] = _NO_EVENTS
        self._ended = False
        # Shortcut flags for feed(), kept in sync by _sync_flags():
        # _lf_ok: started, not poisoned, not ended, so LF-only input may skip the
        #         general machine's checks;
        # _idle:  between events with nothing pending (no partial line, empty data
        #         buffer, no event type, no CRLF half), so whole `data:` blocks can be
        #         emitted straight from slices. A pending id/retry does not matter:
        #         those fields took effect when their line was parsed.
        self._lf_ok = False
        self._idle = False
        # The feed in progress hands "message" events out as bare data (feed_data).
        self._bare = False
        # The id and retry in effect for the block path's events of the last feed:
        # feed() builds its ServerSentEvents from them (see _as_events).
        self._block_id = ""
        self._block_retry: int | None = None

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
        try:
            items = self._feed(data, False)
        except EventTooLargeError as exc:
            exc.events = self._as_events(exc.events)  # type: ignore[arg-type]
            raise
        return self._as_events(items)

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
        return self._feed(data, True)

    def _as_events(
        self, items: Sequence[bytes | ServerSentEvent]
    ) -> list[ServerSentEvent]:
        """``feed()``'s events from ``_feed(data, False)``: there, only the block
        path gives bare data, and all of it under one id and retry."""
        event_id, retry = self._block_id, self._block_retry
        return [
            ServerSentEvent("message", item, event_id, retry)
            if type(item) is bytes
            else item  # type: ignore[misc]
            for item in items
        ]

    def _feed(
        self, data: bytes | bytearray | memoryview, bare: bool
    ) -> list[bytes | ServerSentEvent]:
        self._bare = bare
        if type(data) is not bytes:
            data = bytes(data)
        # Anything with a CR in it (`13 in data` is a plain memchr, ~10x cheaper than
        # `b"\r" in data` on CPython), and the first feeds (BOM) or a dead decoder,
        # take the general machine. Typical traffic is LF-only and goes below.
        if (
            not self._lf_ok
            and not self._started
            and not self._bom_hold
            and len(data) >= len(_BOM)
            and not self._poisoned
            and not self._ended
        ):
            # The first read decides about the BOM at once when it holds 3 bytes or
            # more, so a first read full of events still takes the fast paths below.
            self._started = True
            if data.startswith(_BOM):
                data = data[3:]
            # Nothing was pending before the first bytes: _sync_flags(), known.
            self._lf_ok = self._idle = True
        if 13 in data or not self._lf_ok:
            # Every slow path records its output list, so an EventTooLargeError
            # can carry the events that completed before it (see _too_large).
            events: list[bytes | ServerSentEvent] = []
            self._out = events
            self._feed_general(data, events)
            self._out = _NO_EVENTS  # don't keep this read's events alive
            return events
        if self._idle:
            # The commonest read of all: exactly one event, b"data: {...}\n\n", while
            # nothing is pending. Slicing and comparing is cheaper than method calls
            # here (about 0.35 us for the whole call). Same result as the line
            # machine: one `data` line (one space removed), then a blank line that
            # publishes the id and dispatches a "message".
            if (
                data[-2:] == b"\n\n"
                # No other LF (a second line would make it a multi-line block);
                # found without copying a read that holds many events.
                and data.find(b"\n", 6) == len(data) - 2
                and data[:6] == b"data: "
                and len(data) - 2 <= self._max
            ):
                self._last_id = self._block_id = self._id_buf
                self._block_retry = self._retry
                return [data[6:-2]]
            events = []
        else:
            self._out = events = []
            # Mid-event (a partial line from the last read, say): finish it line by
            # line, then come back to the block path for the rest of this read.
            data = self._finish_event_lf(data, events)
            if not data:
                self._out = _NO_EVENTS
                return events
        # Block path: between events, every "\n\n" closes a block. A block that is a
        # single `data:` line (no other LF in it) is one event whose data is a slice.
        # It must give exactly what the line machine would, so any other block
        # (several lines, other fields, comments, blank-line runs, over the size
        # limit) sends the rest of the read to the line machine instead.
        self._block_id = id_buf = self._id_buf
        self._block_retry = self._retry
        limit = self._max
        end = data.rfind(b"\n\n") + 2  # just after the last blank line, or 1
        if 8 <= end <= limit and data.startswith(b"data: "):
            # The commonest read under load: nothing but whole `data: ` events
            # (and maybe a partial one). Splitting on the separator including the
            # next field name gives every value in one C call; it is right when
            # no value holds an LF (which would mean a second line, or a block
            # that is not `data: `), checked with one memchr over a joined copy.
            values = data[6 : end - 2].split(b"\n\ndata: ")
            if 10 not in b"".join(values):  # 10 is LF
                events += values
                self._last_id = id_buf
                if end < len(data):
                    self._out = events
                    self._feed_lines_lf(data[end:], events)
                self._out = _NO_EVENTS
                return events
        self._out = events
        blocks = data.split(b"\n\n")
        tail = blocks.pop()
        append = events.append
        done = 0
        for block in blocks:
            # "data:" then one optional space, then the value ("If value starts with a
            # U+0020 SPACE character, remove it from value").
            if block.startswith(b"data: "):
                value = block[6:]
            elif block.startswith(b"data:"):
                value = block[5:]
            else:
                break
            if 10 in block or len(block) > limit:  # 10 is LF: several lines
                break
            append(value)
            done += 1
        if done:
            # Each of those blank lines published the id buffer (spec dispatch step 1).
            self._last_id = id_buf
        if done < len(blocks):
            blocks.append(tail)
            self._feed_lines_lf(b"\n\n".join(blocks[done:]), events)
        elif tail:
            self._feed_lines_lf(tail, events)
        self._out = _NO_EVENTS
        return events

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

    # -- the general machines -----------------------------------------------------

    def _feed_general(self, data: bytes, events: list[bytes | ServerSentEvent]) -> None:
        """Consume ``data`` whatever it holds: CR/CRLF line ends, the BOM, errors."""
        if self._poisoned:
            raise SSEProtocolError("SSE decoder is unusable after an earlier error")
        if self._ended:
            self._poison()
            raise SSEProtocolError("feed() called after end()")
        if not self._started:
            # "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are
            # present" – only at the very start, which may arrive a byte at a time.
            data = self._bom_hold + data
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._bom_hold = data
                return
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
        if data:
            # bytes.splitlines() breaks at exactly LF, CR and CRLF – the spec's three
            # line ends – unlike str.splitlines(), which also breaks at U+2028, U+0085,
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

    def _feed_lines_lf(
        self, data: bytes, events: list[bytes | ServerSentEvent]
    ) -> None:
        """Consume LF-only ``data`` line by line, starting idle (no partial line)."""
        lines = data.split(b"\n")
        # split() leaves what follows the last LF as the final item: b"" if the read
        # ended on a line end, otherwise a partial line to keep.
        partial = lines.pop()
        for line in lines:
            self._line(line, events)
        if partial:
            self._add_partial(partial)
        self._sync_flags()

    def _finish_event_lf(
        self, data: bytes, events: list[bytes | ServerSentEvent]
    ) -> bytes:
        """Consume LF-only lines until the decoder is idle again; return the rest.

        Only scans as far as needed (usually to the first blank line), so the rest of
        the read can take the block path.
        """
        pos = 0
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == _LF:
                pos = 1
        find = data.find
        while True:
            i = find(b"\n", pos)
            if i < 0:
                if pos < len(data):
                    self._add_partial(data[pos:])
                self._sync_flags()
                return b""
            if self._buf:
                line = self._take_partial(data[pos:i])
            else:
                line = data[pos:i]
            pos = i + 1
            self._line(line, events)
            if not self._parts and not self._event:
                self._idle = True
                return data[pos:]

    def _add_partial(self, piece: bytes) -> None:
        """Keep ``piece`` as (more of) the line still being received."""
        # Enforced on every feed, even with no line end in sight, so a never-ending
        # line fails as soon as it crosses the limit and memory stays bounded by
        # about max_event_size.
        if self._data_len + len(self._buf) + len(piece) > self._max:
            self._too_large()
        if self._buf:
            self._buf += piece  # a bytearray by now: appends in place
        else:
            self._buf = bytearray(piece)  # created only for a partial line

    def _take_partial(self, head: bytes) -> bytes:
        """Complete the buffered partial line with ``head``; return the whole line."""
        self._buf += head
        line = bytes(self._buf)
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
            # "If value starts with a U+0020 SPACE character, remove it" – exactly one.
            start = colon + 2 if line[colon + 1 : colon + 2] == b" " else colon + 1
            value = line[start:]
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
        #    event type buffer to the empty string and return" – and after dispatching
        #    both are reset too. The id buffer is deliberately *not* reset.
        self._event = ""

    def _sync_flags(self) -> None:
        self._lf_ok = self._started and not self._poisoned and not self._ended
        self._idle = not (self._buf or self._parts or self._event or self._skip_lf)

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
