"""ChatStream: the :class:`EventStream` of a chat completion.

Every guarantee of the completions stream is inherited unchanged (release on
every exit path, the idle and deadline limits, typed truncation and in-band
errors, retries only before the first chunk); what differs is the accounting
of each chunk, done in :meth:`ChatStream._track`:

- the text kept for :attr:`~EventStream.partial_text` is choice 0's
  ``delta.content``;
- every chunk goes into a :class:`ChatCompletionAccumulator` (about 0.25 µs a
  chunk), so :meth:`ChatStream.final_completion` and the ``partial_completion``
  of an :class:`IncompleteStreamError` need no second pass over the chunks;
- a chunk can carry several choices, or none (the usage-only chunk), so every
  choice's ``finish_reason`` is noted, not just the first's.

The base stream's inline per-chunk path reads completion chunks
(``choices[0].text``), so a chat stream never takes it
(``_inline_tracking = False``). It has its own instead, in
:meth:`ChatStream.__anext__`: the next message of the current read is decoded
there, and the common chunk (one text or tool-argument piece for choice 0)
merged by ``merge_common_chunk``. Everything else takes the simple path, the
base ``__anext__``, whose coroutine ``__anext__`` returns as it is (a read that
waits then suspends one coroutine, not two); it decodes with
:func:`decode_chat_chunk` and accounts in :meth:`ChatStream._track`, which
also merges the common chunk first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Final

import msgspec
from msgspec import UNSET

from ._attempts import Call
from ._chat_codec import (
    CHAT_CHUNK_DECODER,
    CHAT_COMPLETION_DECODER,
    ChatCompletionAccumulator,
    carries_error,
    completion_as_chunk,
    merge_common_chunk,
)
from ._chat_wire import ChatCompletion, ChatCompletionChunk
from ._exceptions import IncompleteStreamError, OrqError, ResponseDecodeError, excerpt
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._stream_errors import DECODE_ERRORS, undecodable_error
from ._stream_views import SSEFrames
from ._streaming import EventStream
from ._transport import HTTPResponse

__all__ = [
    "ChatStream",
    "ChatTextDeltas",
    "decode_chat_chunk",
    "decode_chat_completion",
]

#: Choice indices tracked for "every choice finished" (bits of one int).
_CHOICE_BITS: Final = 256
_decode_chunk: Final = CHAT_CHUNK_DECODER.decode


class ChatStream(EventStream[ChatCompletionChunk]):
    """An ``async for`` stream of :class:`ChatCompletionChunk`; also an async
    context manager.

    ``chat.completions.create(..., stream=True)`` returns it once the response
    headers arrived. ``chunk.choices`` can be empty (the usage-only chunk of
    ``stream_options={"include_usage": True}``), so check it before indexing.
    Besides raw iteration: :meth:`aiter_text` for the text alone,
    :meth:`final_completion` for the assembled :class:`ChatCompletion`.

    :raises StreamAPIError: the server reported an error inside the stream.
    :raises StreamDecodeError: an event's data is not a valid chunk.
    :raises IncompleteStreamError: the body ended before ``[DONE]`` with a
        choice unfinished; its ``partial_completion`` holds what arrived.
    :raises StreamConnectionError: the connection failed mid-stream.
    :raises StreamIdleTimeoutError: no data event within the idle limit.
    :raises DeadlineExceededError: the call's deadline ran out.
    :raises SSEProtocolError: the event stream is malformed.
    """

    _inline_tracking = False

    __slots__ = ("_accumulator", "_fast")

    def __init__(
        self,
        call: Call,
        response: HTTPResponse,
        *,
        decoder: Callable[[bytes], ChatCompletionChunk],
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        whole: bytes | None = None,
    ) -> None:
        self._accumulator = ChatCompletionAccumulator()
        # Whether __anext__ may take its fast path at all (no hook, our decoder).
        self._fast = call.hooks.on_chunk is None and decoder is decode_chat_chunk
        if whole is not None:
            # A whole chat.completion (already read and decoded once) answered
            # the stream: hand it over as one chunk whose deltas rebuild it.
            whole = completion_as_chunk(whole)
        super().__init__(
            call,
            response,
            decoder=decoder,
            max_event_size=max_event_size,
            whole=whole,
        )

    # -- public surface ---------------------------------------------------

    def __aiter__(self) -> ChatStream:
        return self

    async def __aenter__(self) -> ChatStream:
        return self

    def aiter_text(self) -> AsyncIterator[str]:
        """The text deltas of the choice with index 0, for ``async for``.

        Role-only, tool-call, finish and usage-only chunks are skipped, as are
        empty pieces. The iterator owns the stream: dropping it or ``break``
        releases the connection just as with the stream itself.
        """
        return ChatTextDeltas(self)

    def aiter_sse(self) -> AsyncIterator[bytes]:
        """Each chunk re-encoded as an SSE frame, then ``data: [DONE]`` (see
        :meth:`EventStream.aiter_sse`)."""
        return SSEFrames(self)

    @property
    def partial_completion(self) -> ChatCompletion:
        """The completion as assembled from the chunks received so far (a new
        object each time; tool-call arguments may be cut short)."""
        return self._accumulator.snapshot

    async def final_completion(self) -> ChatCompletion:
        """Read the rest of the stream and return the assembled completion:
        text per choice, tool calls merged by index, finish reasons, usage.

        Chunks already iterated count too; it can be called after the stream
        ended normally.

        :raises OrqError: as iterating would (an :class:`IncompleteStreamError`
            carries the ``partial_completion``).
        """
        async for _ in self:
            pass
        return self._accumulator.result()

    # -- per-chunk accounting -----------------------------------------------

    def __anext__(self) -> Coroutine[Any, Any, ChatCompletionChunk]:
        # The fast path: the next message of the current read, decoded here
        # and, unless it is an error payload, merged by merge_common_chunk
        # when it is the common chunk (else by _track_other). All the rest
        # (reads, [DONE], other events, undecodable or error payloads, a hook)
        # goes the simple way: the coroutine of EventStream.__anext__ itself,
        # not awaited inside one of ours, so that a read that waits suspends
        # one coroutine, not two.
        events = self._events
        if events and self._fast:
            data = events.pop()
            try:
                chunk = _decode_chunk(data) if type(data) is bytes else None
            except DECODE_ERRORS:  # [DONE], or not a chunk
                chunk = None
            if chunk is None or chunk._error is not UNSET:
                events.append(data)  # the simple way
                return EventStream.__anext__(self)
            try:
                piece = merge_common_chunk(self._accumulator, chunk)
                if piece is None:
                    self._track_other(chunk)
                else:
                    self._text.append(piece)
            except BaseException as exc:  # pragma: no cover - defensive
                return self._raise_failed(exc)
            return _ready(chunk)
        return EventStream.__anext__(self)

    async def _raise_failed(  # pragma: no cover - see __anext__
        self, exc: BaseException
    ) -> ChatCompletionChunk:
        raise await self._failed(exc)

    def _track(self, chunk: ChatCompletionChunk) -> None:
        # (What __anext__'s fast path does inline, where calling this would
        # cost about 390 instructions a chunk: here for the chunks the base
        # __anext__ decodes, the first of each read.)
        piece = merge_common_chunk(self._accumulator, chunk)
        if piece is None:
            self._track_other(chunk)
        else:
            self._text.append(piece)

    def _track_other(self, chunk: ChatCompletionChunk) -> None:
        """Account for a chunk that is not the common one (the first, a finish
        or usage chunk, several choices, a rare field...)."""
        if self._first_chunk_at is None:
            self._first_seen(chunk)
        self._accumulator.add(chunk)
        choices = chunk.choices
        if len(choices) == 1 and chunk.usage is None:
            # The common chunk: one choice of index 0 with a text piece, and
            # no finish reason yet.
            only = choices[0]
            if only.index == 0 and only.finish_reason is None:
                self._text.append(only.delta.content or "")
                return
        text: str | None = None
        for choice in chunk.choices:
            index = choice.index
            if type(index) is not int or not 0 <= index < _CHOICE_BITS:
                index = min(max(int(index), 0), _CHOICE_BITS - 1)
            if index == 0:
                text = choice.delta.content or ""
            elif index > self._top_index:
                self._top_index = index
            reason = choice.finish_reason
            if reason is not None:
                self._finished |= 1 << index
                if self._span is not None:
                    self._span.finish_reasons[index] = reason
        if text is None:
            self._other_chunks += 1
        else:
            # One piece per chunk of choice 0 (it counts the chunk too).
            self._text.append(text)
        if chunk.usage is not None:
            self._usage = chunk.usage

    async def _failed(self, exc: BaseException) -> BaseException:
        if isinstance(exc, IncompleteStreamError) and exc.partial_completion is None:
            exc.partial_completion = self._accumulator.snapshot
        return await super()._failed(exc)


async def _ready(chunk: ChatCompletionChunk) -> ChatCompletionChunk:
    """The fast path's chunk, as the awaitable ``__anext__`` must return."""
    return chunk


class ChatTextDeltas:
    """``ChatStream.aiter_text()``: a plain iterator object, not a generator,
    so that dropping it frees the stream (and its connection) at once."""

    __slots__ = ("_stream",)

    def __init__(self, stream: ChatStream) -> None:
        self._stream = stream

    def __aiter__(self) -> ChatTextDeltas:
        return self

    async def __anext__(self) -> str:
        while True:
            chunk = await self._stream.__anext__()
            for choice in chunk.choices:
                if choice.index == 0:
                    content = choice.delta.content
                    if content:
                        return content
                    break

    async def aclose(self) -> None:
        await self._stream.aclose()


def decode_chat_chunk(data: bytes) -> ChatCompletionChunk:
    """One SSE message's data as a chunk; an ``{"error": ...}`` payload (even
    next to ``choices``) is refused, so the stream reports the server's error.

    :raises msgspec.DecodeError: not a chunk, or an error payload.
    """
    chunk = _decode_chunk(data)
    if carries_error(chunk):
        raise msgspec.DecodeError("the payload is an error object")
    return chunk


def _unchanged(data: bytes) -> bytes:
    return data


def decode_chat_completion(
    body: bytes,
    request_id: str | None,
    *,
    scrub: Callable[[bytes], bytes] = _unchanged,
) -> ChatCompletion:
    """Decode a 200 JSON body.

    :param scrub: masks secrets in the body before any of it goes into an error.
    :raises ResponseDecodeError: the body is not a chat completion object.
    :raises StreamAPIError: the body is an ``{"error": ...}`` object.
    """
    try:
        completion = CHAT_COMPLETION_DECODER.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        shown = scrub(body)
        raise ResponseDecodeError(
            f"invalid chat completion response: {exc}; body starts {excerpt(shown)!r}",
            raw=shown,
            request_id=request_id,
        ) from None
    if carries_error(completion):
        error: OrqError = undecodable_error(
            scrub(body), ValueError("an error object"), request_id, 0
        )
        error.retryable = False
        raise error
    return completion
