"""Views of an :class:`EventStream` for relaying it: its text deltas, or its
chunks re-encoded as SSE frames. Plain iterator objects, not generators, so
that dropping one frees the stream (and its connection) at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ._exceptions import OrqError
from ._wire import CompletionChunk

if TYPE_CHECKING:
    from ._streaming import EventStream

__all__ = ["SSEFrames", "TextDeltas"]


class TextDeltas:
    """``EventStream.aiter_text()``: a plain iterator object, not a generator, so
    that dropping it frees the stream (and its connection) at once."""

    __slots__ = ("_stream",)

    def __init__(self, stream: EventStream[CompletionChunk]) -> None:
        self._stream = stream

    def __aiter__(self) -> TextDeltas:
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


class SSEFrames:
    """``EventStream.aiter_sse()`` (see there); any chunk type msgspec encodes."""

    __slots__ = ("_done", "_stream")

    def __init__(self, stream: EventStream[Any]) -> None:
        self._stream = stream
        self._done = False

    def __aiter__(self) -> SSEFrames:
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
