"""EventStream: the async iterator over completion chunks.

A class with ``__anext__``, deliberately not an async generator: aiohttp's
``ClientResponse.close()`` is synchronous, so the connection can be released on
every exit path, including a ``break`` without ``async with`` (``__del__`` runs as
soon as the last reference goes) and the client's ``aclose()``.

Time limits while streaming: one anyio cancel scope per chunk would cost more
than the whole parse and decode (about 7 µs against about 1 µs), so the idle
limit and the overall deadline are checked by the loop's shared watchdog timer
(``_timers``), lazily: when it finds the reader waiting past a limit it fails
the pending read with the typed timeout (``HTTPResponse.abort_read``); nothing
is cancelled, so the caller's own cancel scopes and ``CancelledError`` stay
untouched.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Final, Generic, TypeVar

from ._attempts import Call
from ._exceptions import (
    APIConnectionError,
    ClientClosedError,
    DeadlineExceededError,
    EventTooLargeError,
    IncompleteStreamError,
    OrqError,
    SSEProtocolError,
    StreamConsumedError,
    StreamIdleTimeoutError,
    UnexpectedContentTypeError,
)
from ._hooks import ChunkEvent, StreamMetrics, call_hook
from ._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder
from ._stream_errors import DECODE_ERRORS, in_band_error, undecodable_error
from ._stream_views import SSEFrames, TextDeltas
from ._timers import Watched, watchdog
from ._transport import HTTPResponse
from ._wire import CompletionChunk, Usage

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "EventStream", "end_for_closed_client"]

T = TypeVar("T")

#: After ``[DONE]``, how long we read the rest of the body so the connection can
#: go back to the pool (openai uses 0.1 s; a prompt server ends at once).
DEFAULT_DRAIN_TIMEOUT: Final = 0.2

_DONE: Final = b"[DONE]"
_NO_EVENTS: Final[list[bytes | ServerSentEvent]] = []
_OPEN, _DONE_STATE, _CLOSED, _CLIENT_CLOSED = range(4)


class EventStream(Generic[T]):
    """An ``async for`` stream of completion chunks; also an async context manager.

    ``create(..., stream=True)`` returns it once the response headers arrived.
    Iterating ends normally at ``data: [DONE]`` (or at a clean end of the body
    when the last chunk carried a ``finish_reason``).

    :raises StreamAPIError: the server reported an error inside the stream.
    :raises StreamDecodeError: an event's data is not a valid chunk.
    :raises IncompleteStreamError: the body ended before ``[DONE]``.
    :raises StreamConnectionError: the connection failed mid-stream.
    :raises StreamIdleTimeoutError: no data event within the idle limit.
    :raises DeadlineExceededError: the call's deadline ran out.
    :raises SSEProtocolError: the event stream is malformed (e.g. an event too large).
    """

    #: Whether ``__anext__`` may track chunks inline once steady (that path reads
    #: completion chunks, ``choices[0].text``); a subclass whose chunks have
    #: another shape sets it False and does all its accounting in ``_track``.
    _inline_tracking: ClassVar[bool] = True

    __slots__ = (
        "__weakref__",
        "_bytes",
        "_call",
        "_decode",
        "_events",
        "_finished",
        "_first_chunk_at",
        "_loop",
        "_on_chunk",
        "_other_chunks",
        "_parser",
        "_pending_error",
        "_reading",
        "_response",
        "_span",
        "_state",
        "_steady",
        "_text",
        "_timer",
        "_top_index",
        "_usage",
        "_waiting_since",
    )

    def __init__(
        self,
        call: Call,
        response: HTTPResponse,
        *,
        decoder: Callable[[bytes], T],
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        whole: bytes | None = None,
    ) -> None:
        self._call = call
        self._response = response
        self._decode = decoder
        self._parser = SSEDecoder(max_event_size=max_event_size)
        # The current read's events, last first (feed_data: messages as bytes).
        self._events: list[bytes | ServerSentEvent] = _NO_EVENTS
        self._state = _OPEN
        # Whether __anext__ may take its fast path: open, the first chunk
        # delivered, no on_chunk hook. Cleared whenever _state changes.
        self._steady = False
        # Bit i set: choice i had a finish_reason (an int: no allocation).
        self._finished = 0
        self._top_index = 0
        self._usage: Usage | None = None
        self._text: list[str] = []
        self._loop = call.loop
        # Our entry in the loop's watchdog while limits are watched: only a weak
        # reference, so an abandoned stream (``break`` without ``async with``,
        # reference dropped) is still freed at once by reference counting and
        # ``__del__`` closes its connection.
        self._timer: weakref.ref[Watched] | None = None
        self._waiting_since = 0.0
        self._reading = False
        # Chunks delivered that added no text to _text (see chunks_received).
        self._other_chunks = 0
        self._bytes = 0
        self._first_chunk_at: float | None = None
        self._pending_error: OrqError | None = None
        self._on_chunk = call.hooks.on_chunk
        # The call's OpenTelemetry span until the stream ends (None: telemetry off).
        self._span = call.span
        if whole is None:
            self._check_content_type(response)
        else:
            # A whole JSON completion (already read) answered the stream: it is
            # the one chunk, then the stream ends as if [DONE] had come.
            self._events = [_DONE, whole]

    # -- public surface ---------------------------------------------------

    @property
    def request_id(self) -> str | None:
        """The server's request id for the response being streamed."""
        return self._response.request_id

    @property
    def chunks_received(self) -> int:
        """Chunks handed to the caller so far."""
        # Each chunk of choice 0 added one piece of text; the rest are counted.
        return len(self._text) + self._other_chunks

    @property
    def attempts(self) -> int:
        """HTTP attempts this call made (1 when nothing was retried)."""
        return self._call.attempts

    @property
    def metrics(self) -> StreamMetrics:
        """A snapshot of this call's numbers (timings in seconds)."""
        call = self._call
        first = self._first_chunk_at
        return StreamMetrics(
            request_id=self.request_id,
            time_to_first_byte=call.time_to_first_byte,
            time_to_first_chunk=None if first is None else first - call.started,
            chunks=self.chunks_received,
            bytes=self._bytes,
            retries=call.attempts - 1,
            resends=call.resends,
        )

    def aiter_text(self: EventStream[CompletionChunk]) -> AsyncIterator[str]:
        """The text deltas of the first choice, for ``async for``.

        For pass-through, e.g. ``StreamingResponse(stream.aiter_text())``. The
        iterator owns the stream: dropping it or ``break`` releases the
        connection just as with the stream itself.
        """
        return TextDeltas(self)

    def aiter_sse(self: EventStream[CompletionChunk]) -> AsyncIterator[bytes]:
        """Each chunk re-encoded as an SSE frame, then ``data: [DONE]``.

        For relaying the stream to a browser or another OpenAI-style client. A
        failure of the upstream stream (an :class:`OrqError`) becomes a final
        ``event: error`` frame with ``{"error": {...}}``, so the downstream
        client learns why the stream stopped; cancellation still propagates.
        """
        return SSEFrames(self)

    @property
    def partial_text(self) -> str:
        """The text of the first choice (index 0) received so far."""
        return "".join(self._text)

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""
        return self._response.headers

    @property
    def usage(self) -> Usage | None:
        """Token usage, once a chunk carried it (usually the last one)."""
        return self._usage

    async def text(self) -> str:
        """Read the stream to its end and return the first choice's whole text.

        :raises OrqError: as iterating would.
        """
        async for _ in self:
            pass
        return self.partial_text

    def __aiter__(self) -> EventStream[T]:
        return self

    async def __aenter__(self) -> EventStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(_CLOSED if self._state == _OPEN else self._state)

    async def aclose(self) -> None:
        """Stop the stream and free its connection (idempotent)."""
        self._close(_CLOSED if self._state == _OPEN else self._state)

    def close(self) -> None:
        """Synchronous :meth:`aclose`, for ``finally`` blocks and finalisers."""
        self._close(_CLOSED if self._state == _OPEN else self._state)

    def __del__(self) -> None:
        response = getattr(self, "_response", None)
        if response is not None and not response.closed:
            try:
                self._close(_CLOSED)
            except RuntimeError:  # pragma: no cover - the loop is already closed
                pass

    # -- iteration ----------------------------------------------------------

    async def __anext__(self) -> T:
        if self._state != _OPEN:
            raise self._ended_error()
        waiting = False
        try:
            while True:
                # The current read's events, last first (pop() takes the next).
                events = self._events
                if not events:
                    # Nothing parsed is left: read. The idle clock runs from the
                    # first read of this step (comments that arrive meanwhile
                    # are not progress).
                    if not waiting:
                        waiting = True
                        self._waiting_since = self._loop.time()
                    if (
                        self._timer is None
                        or self._pending_error is not None
                        or self._call.deadline is not None
                    ):
                        self._before_read()
                    self._reading = True
                    try:
                        data = await self._response.read_chunk()
                    except OrqError as exc:
                        await self._read_failed(exc)
                        continue
                    finally:
                        self._reading = False
                    if data:
                        self._parse(data)
                    else:
                        await self._at_eof()
                    continue
                data = events.pop()
                if type(data) is not bytes or data == _DONE:
                    await self._other_event(data)
                    continue
                try:
                    chunk = self._decode(data)
                except DECODE_ERRORS as exc:
                    await self._undecodable_chunk(data, exc)
                    continue
                if self._steady:
                    # After the first chunk, without a hook: the common chunk,
                    # one choice of index 0, tracked here (what _track does).
                    choices = chunk.choices  # type: ignore[attr-defined]
                    if choices and choices[0].index == 0:
                        first = choices[0]
                        self._text.append(first.text)
                        if first.finish_reason is not None:
                            self._finished |= 1
                            if self._span is not None:
                                self._span.finish_reasons[0] = first.finish_reason
                        usage = chunk.usage  # type: ignore[attr-defined]
                        if usage is not None:
                            self._usage = usage
                        return chunk
                self._track(chunk)
                if self._on_chunk is not None:
                    await self._chunk_hook(chunk)
                return chunk
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            raise await self._failed(exc)  # noqa: B904 - it is exc, or chains it

    def _before_read(self) -> None:
        """Raise what is due before reading; make sure the limits are watched
        (the watchdog fails a read that waits too long, see ``check``)."""
        if self._pending_error is not None:
            raise self._pending_error
        call = self._call
        if call.deadline is not None and self._loop.time() >= call.deadline:
            raise DeadlineExceededError(
                f"the call's deadline passed after {self.chunks_received} chunk(s)",
                request_id=self.request_id,
            )
        if self._timer is None and (
            call.timeouts.stream_idle is not None or call.deadline is not None
        ):
            self._arm_timer()

    def _parse(self, data: bytes) -> None:
        """Parse what a read returned into ``_events``."""
        self._bytes += len(data)
        parser = self._parser
        try:
            events = parser.feed_data(data)
        except SSEProtocolError as exc:
            self._protocol_error(exc)
            return
        events.reverse()
        self._events = events
        if not events and parser.receiving_data:
            # Part of a data event arrived: that is progress, not idling.
            self._waiting_since = self._loop.time()

    async def _other_event(self, data: bytes | ServerSentEvent) -> None:
        """``[DONE]``, or an event that is not a message: an ``error`` event
        fails the stream (or retries it); other types are not ours to fail on."""
        if data == _DONE:
            await self._finish()
            raise StopAsyncIteration
        event: ServerSentEvent = data  # type: ignore[assignment]
        if event.event == "error":
            error = in_band_error(
                self._call.scrub(event.data), self.request_id, self.chunks_received
            )
            await self._retry_or_raise(error)

    async def _undecodable_chunk(self, data: bytes, exc: Exception) -> None:
        error = undecodable_error(
            self._call.scrub(data), exc, self.request_id, self.chunks_received
        )
        if self.chunks_received == 0 and error.retryable:
            await self._restart(error)
            return
        raise error from None

    async def _retry_or_raise(self, error: OrqError) -> None:
        if self.chunks_received == 0 and error.retryable:
            await self._restart(error)
            return
        raise error

    async def _chunk_hook(self, chunk: T) -> None:
        await call_hook(
            self._on_chunk,
            ChunkEvent(
                chunk,
                self.chunks_received - 1,
                self._loop.time() - self._call.started,
                self.request_id,
            ),
        )

    async def _failed(self, exc: BaseException) -> BaseException:
        """The stream failed with ``exc`` (a fault, a time limit, a
        cancellation): free the connection, report, and return what to raise."""
        state = self._state
        self._end_span(exc)
        self._close(_CLOSED)
        if not isinstance(exc, OrqError):
            return exc
        if state != _CLIENT_CLOSED:
            await self._call.failed(exc)
            return exc
        if isinstance(exc, ClientClosedError):
            return exc
        # The client's aclose() closed the connection under a pending read:
        # report that, not the "connection closed" it caused.
        error = ClientClosedError("the client was closed while this stream was open")
        error.__cause__ = exc  # as "raise error from exc" would
        error.__suppress_context__ = True
        return error

    async def _read_failed(self, error: OrqError) -> None:
        """A read raised: retry if nothing reached the caller yet, else raise."""
        if isinstance(error, APIConnectionError):
            error.chunks_delivered = self.chunks_received
            if self.chunks_received == 0 and not isinstance(
                error, DeadlineExceededError
            ):
                error.retryable = True
                await self._restart(error)
                return
            error.retryable = False
        raise error

    def _protocol_error(self, exc: SSEProtocolError) -> None:
        exc.request_id = self.request_id
        if isinstance(exc, EventTooLargeError) and exc.events:
            # Deliver what completed before the oversized event, then raise.
            self._events = [*reversed(exc.events)]  # type: ignore[list-item]
            self._pending_error = exc
            return
        raise exc

    async def _at_eof(self) -> None:
        """The body ended: flush the parser, then end or report truncation."""
        try:
            self._events = [*reversed(self._parser.end())]
        except SSEProtocolError as exc:
            self._protocol_error(exc)
            return
        if self._events:
            return
        # Clean end of the body without [DONE].
        if self._finished and self._finished == (2 << self._top_index) - 1:
            self._state = _DONE_STATE
            self._steady = False
            self._release()
            self._end_span(None)
            raise StopAsyncIteration
        error = IncompleteStreamError(
            f"the stream ended after {self.chunks_received} chunk(s) without "
            "[DONE] or a finish_reason",
            chunks_received=self.chunks_received,
            partial_text=self.partial_text,
            request_id=self.request_id,
            retryable=self.chunks_received == 0,
        )
        if self.chunks_received == 0:
            await self._restart(error)
            return
        raise error

    async def _restart(self, error: OrqError) -> None:
        """Nothing reached the caller yet: try the call again, or raise."""
        if self._state != _OPEN:
            # aclose() (the stream's or the client's) ran while a read was pending
            # and its close is what failed the read: never send another request.
            raise self._ended_error() from error
        self._cancel_timer()
        self._response.close()
        response = await self._call.reopen(error)
        self._response = response
        self._check_content_type(response)
        self._parser = SSEDecoder(max_event_size=self._parser.max_event_size)
        self._events = _NO_EVENTS

    # -- helpers --------------------------------------------------------------

    def _track(self, chunk: T) -> None:
        """Account for a chunk about to be handed to the caller.

        With ``n > 1`` each chunk carries one choice, by ``index``: the text kept
        for :attr:`partial_text` is choice 0's, and a stream without ``[DONE]``
        ends normally only once every choice seen has a ``finish_reason``.
        """
        if self._first_chunk_at is None:
            self._first_seen(chunk)
        choices = chunk.choices  # type: ignore[attr-defined]
        if choices:
            first = choices[0]
            index = first.index
            if type(index) is not int or not 0 <= index < _MAX_CHOICES:
                index = _choice_slot(index)
            if index == 0:
                self._text.append(first.text)  # counts as a chunk too
            else:
                self._other_chunks += 1
                if index > self._top_index:
                    self._top_index = index
            if first.finish_reason is not None:
                self._finished |= 1 << index
                if self._span is not None:
                    self._span.finish_reasons[index] = first.finish_reason
        else:
            self._other_chunks += 1
        usage = chunk.usage  # type: ignore[attr-defined]
        if usage is not None:
            self._usage = usage

    def _first_seen(self, chunk: T) -> None:
        """The first chunk is about to reach the caller: no retry from now on."""
        self._first_chunk_at = self._loop.time()
        self._call.forget_request()
        self._steady = (
            self._inline_tracking and self._on_chunk is None and self._state == _OPEN
        )
        if self._span is not None:
            self._span.first_chunk(chunk)  # type: ignore[arg-type]

    def _check_content_type(self, response: HTTPResponse) -> None:
        if response.content_type == "text/event-stream":
            return
        response.close()
        self._state = _CLOSED
        raise UnexpectedContentTypeError(
            "expected text/event-stream, got "
            f"{response.content_type or 'no content type'!r} "
            f"(HTTP {response.status})",
            status_code=response.status,
            content_type=response.content_type,
            body_excerpt="",
            request_id=response.request_id,
        )

    async def _finish(self) -> None:
        self._state = _DONE_STATE
        self._steady = False
        self._end_span(None)
        if self._timer is not None:
            self._cancel_timer()
        await self._response.drain(DEFAULT_DRAIN_TIMEOUT)

    def _release(self) -> None:
        self._cancel_timer()
        if self._response.at_eof():
            self._response.release()
        else:
            self._response.close()

    def _close(self, state: int) -> None:
        self._steady = False
        if self._state == _OPEN:
            self._state = state
        if self._timer is not None:
            self._cancel_timer()
        self._response.close()  # idempotent; frees the pool slot exactly once
        if self._span is not None:
            self._end_span(None)

    def _end_span(self, error: BaseException | None) -> None:
        """End the call's span (once): the stream ended, closed or failed."""
        span = self._span
        if span is not None:
            self._span = None
            span.end_stream(self._usage, self._text, error)

    def _client_closed(self) -> None:
        """Called by the client's ``aclose()`` while this stream is open."""
        if self._state == _OPEN:
            self._state = _CLIENT_CLOSED
        self._close(_CLIENT_CLOSED)

    def _ended_error(self) -> BaseException:
        if self._state == _DONE_STATE:
            return StopAsyncIteration()
        if self._state == _CLIENT_CLOSED:
            return ClientClosedError("the client was closed while this stream was open")
        return StreamConsumedError("the stream was closed; it cannot be iterated again")

    # -- the idle / deadline limits (one shared loop timer, see _timers) ------

    def _arm_timer(self) -> None:
        watch: weakref.ref[Watched] = weakref.ref(self)
        self._timer = watch
        watchdog(self._loop).add(watch, self._due(self._loop.time()))

    def _due(self, now: float) -> float:
        idle = self._call.timeouts.stream_idle
        deadline = self._call.deadline
        due = float("inf")
        if idle is not None:
            due = (self._waiting_since if self._reading else now) + idle
        if deadline is not None and deadline < due:
            due = deadline
        return due

    def check(self, now: float) -> float | None:
        """The watchdog's call: fail a read that waited past a limit; else the
        next due time (None: stop watching)."""
        if self._state != _OPEN or self._response.closed:
            return None
        deadline = self._call.deadline
        if self._reading:
            error: OrqError | None = None
            if deadline is not None and now >= deadline:
                error = DeadlineExceededError(
                    f"the call's deadline passed after {self.chunks_received} chunk(s)",
                    request_id=self.request_id,
                )
            else:
                idle = self._call.timeouts.stream_idle
                if idle is not None and now - self._waiting_since >= idle:
                    error = StreamIdleTimeoutError(
                        f"no data event within {idle}s "
                        f"(after {self.chunks_received} chunk(s))",
                        request_id=self.request_id,
                        chunks_delivered=self.chunks_received,
                    )
            if error is not None:
                self._response.abort_read(error)
                return None
        return self._due(now)

    def _cancel_timer(self) -> None:
        watch = self._timer
        if watch is not None:
            self._timer = None
            watchdog(self._loop).discard(watch)


def end_for_closed_client(stream: EventStream[Any]) -> None:
    """End ``stream`` because its client's ``aclose()`` ran: its next step
    raises :class:`ClientClosedError`."""
    stream._client_closed()


#: Choice indices tracked for "every choice finished" (bits of one int).
_MAX_CHOICES: Final = 256


def _choice_slot(index: float) -> int:
    """A server's odd ``index`` (``1.5``, ``-1``, ``1e9``) as a bit position.

    (JSON has no NaN or infinity, and the decoder refuses numbers past a
    double's range, so ``int()`` cannot fail here.)
    """
    return min(max(int(index), 0), _MAX_CHOICES - 1)
