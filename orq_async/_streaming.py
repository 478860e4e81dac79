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
from typing import Final, Generic, TypeVar

import msgspec

from ._call import Call
from ._codec import ERROR_DECODER
from ._exceptions import (
    APIConnectionError,
    ClientClosedError,
    DeadlineExceededError,
    EventTooLargeError,
    IncompleteStreamError,
    OrqError,
    SSEProtocolError,
    StreamAPIError,
    StreamConsumedError,
    StreamDecodeError,
    StreamIdleTimeoutError,
    UnexpectedContentTypeError,
    excerpt,
)
from ._hooks import ChunkEvent, StreamMetrics, call_hook
from ._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder
from ._timers import Watched, watchdog
from ._transport import HTTPResponse
from ._wire import CompletionChunk, Usage

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "EventStream"]

T = TypeVar("T")

#: After ``[DONE]``, how long we read the rest of the body so the connection can
#: go back to the pool (openai uses 0.1 s; a prompt server ends at once).
DEFAULT_DRAIN_TIMEOUT: Final = 0.2

_DONE: Final = b"[DONE]"
_NO_EVENTS: Final[list[bytes | ServerSentEvent]] = []
#: What msgspec raises for undecodable data: invalid UTF-8 inside a JSON string
#: is a plain ``UnicodeDecodeError``, not a ``msgspec.DecodeError``.
_DECODE_ERRORS: Final = (msgspec.DecodeError, UnicodeDecodeError)
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
    :raises StreamIdleTimeoutError, DeadlineExceededError: a time limit ran out.
    :raises SSEProtocolError: the event stream is malformed (e.g. an event too large).
    """

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
        self._check_content_type(response)

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
        )

    def aiter_text(self: EventStream[CompletionChunk]) -> AsyncIterator[str]:
        """The text deltas of the first choice, for ``async for``.

        For pass-through, e.g. ``StreamingResponse(stream.aiter_text())``. The
        iterator owns the stream: dropping it or ``break`` releases the
        connection just as with the stream itself.
        """
        return _TextDeltas(self)

    def aiter_sse(self: EventStream[CompletionChunk]) -> AsyncIterator[bytes]:
        """Each chunk re-encoded as an SSE frame, then ``data: [DONE]``.

        For relaying the stream to a browser or another OpenAI-style client. A
        failure of the upstream stream (an :class:`OrqError`) becomes a final
        ``event: error`` frame with ``{"error": {...}}``, so the downstream
        client learns why the stream stopped; cancellation still propagates.
        """
        return _SSEFrames(self)

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
        events = self._events
        if events and self._steady:
            # The steady state: after the first chunk, no on_chunk hook, the
            # next parsed event a message of choice 0 that decodes. Anything
            # else goes back and takes the general loop below.
            data = events.pop()
            if type(data) is bytes and data != _DONE:
                try:
                    chunk = self._decode(data)
                    first = chunk.choices[0]  # type: ignore[attr-defined]
                except (*_DECODE_ERRORS, IndexError):
                    pass
                else:
                    if first.index == 0:
                        # _track(), inlined for the common chunk.
                        self._text.append(first.text)
                        if first.finish_reason is not None:
                            self._finished |= 1
                        usage = chunk.usage  # type: ignore[attr-defined]
                        if usage is not None:
                            self._usage = usage
                    else:
                        self._track(chunk)
                    return chunk
            events.append(data)
        if self._state != _OPEN:
            raise self._ended_error()
        waiting = False
        try:
            call = self._call
            while True:
                # The current read's events, last first (pop() takes the next).
                events = self._events
                while events:
                    data = events.pop()
                    error: OrqError
                    if type(data) is not bytes:
                        # Not a "message" (feed_data gives those as bare data).
                        event: ServerSentEvent = data  # type: ignore[assignment]
                        if event.event == "error":
                            error = self._in_band_error(event.data)
                            if self.chunks_received == 0 and error.retryable:
                                await self._restart(error)
                                break
                            raise error
                        continue  # an unknown event type: not ours to fail on
                    if data == _DONE:
                        await self._finish()
                        raise StopAsyncIteration
                    try:
                        chunk = self._decode(data)
                    except _DECODE_ERRORS as exc:
                        error = self._undecodable(data, exc)
                        if self.chunks_received == 0 and error.retryable:
                            await self._restart(error)
                            break
                        raise error from None
                    self._track(chunk)
                    if self._on_chunk is not None:
                        await call_hook(
                            self._on_chunk,
                            ChunkEvent(
                                chunk,
                                self.chunks_received - 1,
                                self._loop.time() - call.started,
                                self.request_id,
                            ),
                        )
                    return chunk
                else:
                    # Nothing parsed is left: read. The idle clock runs from the
                    # first read of this step (comments that arrive meanwhile are
                    # not progress).
                    if not waiting:
                        waiting = True
                        self._waiting_since = self._loop.time()
                    if self._pending_error is not None:
                        raise self._pending_error
                    if call.deadline is not None and self._loop.time() >= call.deadline:
                        raise DeadlineExceededError(
                            f"the call's deadline passed after {self.chunks_received} "
                            "chunk(s)",
                            request_id=self.request_id,
                        )
                    response = self._response
                    # Everything already buffered, in one piece: many events per
                    # parse under load, and no wait, so no timer.
                    data = response.read_buffered()
                    if (
                        not data
                        and self._timer is None
                        and (
                            call.timeouts.stream_idle is not None
                            or call.deadline is not None
                        )
                    ):
                        # Arm the idle/deadline watch only once a read has to wait.
                        self._arm_timer()
                    if not data:
                        self._reading = True
                        try:
                            data = await response.readany()
                        except Exception as exc:
                            await self._read_failed(exc)
                            continue
                        finally:
                            self._reading = False
                    if not data:
                        await self._at_eof()
                        continue
                    self._bytes += len(data)
                    parser = self._parser
                    try:
                        events = parser.feed_data(data)
                    except SSEProtocolError as exc:
                        self._protocol_error(exc)
                        continue
                    events.reverse()
                    self._events = events
                    if not events and parser.receiving_data:
                        # Part of a data event arrived: that is progress, not idling.
                        self._waiting_since = self._loop.time()
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            # Cancellation, a timeout, a fault: the connection cannot be reused.
            state = self._state
            self._close(_CLOSED)
            if isinstance(exc, OrqError) and state != _CLIENT_CLOSED:
                await self._call.failed(exc)
            if state == _CLIENT_CLOSED and isinstance(exc, OrqError):
                # The client's aclose() closed the connection under a pending read:
                # report that, not the "connection closed" it caused.
                if isinstance(exc, ClientClosedError):
                    raise
                raise ClientClosedError(
                    "the client was closed while this stream was open"
                ) from exc
            raise

    async def _read_failed(self, exc: Exception) -> None:
        """A read raised: retry if nothing reached the caller yet, else raise."""
        if isinstance(exc, OrqError):
            error = exc
        else:
            error = self._response.mid_stream_error(exc)
        if isinstance(error, APIConnectionError):
            error.chunks_delivered = self.chunks_received
            if self.chunks_received == 0 and not isinstance(
                error, DeadlineExceededError
            ):
                error.retryable = True
                await self._restart(error)
                return
            error.retryable = False
        if error is exc:
            raise error
        raise error from exc

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
        response = await self._call.retry(error)
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
            self._first_chunk_at = self._loop.time()
            self._call.forget_request()  # no retry is possible from now on
            self._steady = self._on_chunk is None and self._state == _OPEN
        choices = chunk.choices  # type: ignore[attr-defined]
        if choices:
            first = choices[0]
            index = first.index
            if index == 0:
                self._text.append(first.text)  # counts as a chunk too
            else:
                self._other_chunks += 1
                if index > self._top_index:
                    self._top_index = index
            if first.finish_reason is not None:
                self._finished |= 1 << index
        else:
            self._other_chunks += 1
        usage = chunk.usage  # type: ignore[attr-defined]
        if usage is not None:
            self._usage = usage

    def _in_band_error(self, data: bytes) -> StreamAPIError:
        data = self._call.scrub(data)
        try:
            detail = ERROR_DECODER.decode(data).error
            message, type_, code, param = (
                detail.message,
                detail.type,
                detail.code,
                detail.param,
            )
        except _DECODE_ERRORS:
            message, type_, code, param = excerpt(data), None, None, None
        return StreamAPIError(
            message or "the server reported an error",
            type=type_,
            code=None if code is None else str(code),
            param=param,
            request_id=self.request_id,
            retryable=self.chunks_received == 0,
            chunks_delivered=self.chunks_received,
        )

    def _undecodable(self, data: bytes, exc: Exception) -> OrqError:
        data = self._call.scrub(data)
        try:
            detail = ERROR_DECODER.decode(data).error
        except _DECODE_ERRORS:
            loose = _loose_error(data)
            if loose is None:
                return StreamDecodeError(
                    f"event {self.chunks_received} is not a valid chunk ({exc}): "
                    f"{excerpt(data)!r}",
                    raw=data,
                    request_id=self.request_id,
                    event_index=self.chunks_received,
                )
            return StreamAPIError(
                loose,
                request_id=self.request_id,
                retryable=self.chunks_received == 0,
                chunks_delivered=self.chunks_received,
            )
        return StreamAPIError(
            detail.message or "the server reported an error",
            type=detail.type,
            code=None if detail.code is None else str(detail.code),
            param=detail.param,
            request_id=self.request_id,
            retryable=self.chunks_received == 0,
            chunks_delivered=self.chunks_received,
        )

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


def _loose_error(data: bytes) -> str | None:
    """The message of an ``{"error": ...}`` payload not in the usual shape
    (``{"error": "rate limited"}``, a non-string message), else None."""
    try:
        payload = msgspec.json.decode(data)
    except _DECODE_ERRORS:
        return None
    if not isinstance(payload, dict) or "error" not in payload:
        return None
    error = payload["error"]
    if isinstance(error, str):
        return error or "the server reported an error"
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"]) or "the server reported an error"
    return excerpt(msgspec.json.encode(error))


class _TextDeltas:
    """``EventStream.aiter_text()``: a plain iterator object, not a generator, so
    that dropping it frees the stream (and its connection) at once."""

    __slots__ = ("_stream",)

    def __init__(self, stream: EventStream[CompletionChunk]) -> None:
        self._stream = stream

    def __aiter__(self) -> _TextDeltas:
        return self

    async def __anext__(self) -> str:
        while True:
            chunk = await self._stream.__anext__()
            if chunk.choices:
                first = chunk.choices[0]
                if first.index == 0:
                    return first.text

    async def aclose(self) -> None:
        await self._stream.aclose()


_ENCODER = msgspec.json.Encoder()


class _SSEFrames:
    """``EventStream.aiter_sse()`` (see there)."""

    __slots__ = ("_done", "_stream")

    def __init__(self, stream: EventStream[CompletionChunk]) -> None:
        self._stream = stream
        self._done = False

    def __aiter__(self) -> _SSEFrames:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._done = True
            return b"data: [DONE]\n\n"
        except OrqError as exc:
            self._done = True
            body = {
                "error": {
                    "message": exc.message,
                    "request_id": exc.request_id,
                    "type": getattr(exc, "type", None) or type(exc).__name__,
                    "code": getattr(exc, "code", None),
                }
            }
            return b"event: error\ndata: " + _ENCODER.encode(body) + b"\n\n"
        return b"data: " + _ENCODER.encode(chunk) + b"\n\n"

    async def aclose(self) -> None:
        await self._stream.aclose()
