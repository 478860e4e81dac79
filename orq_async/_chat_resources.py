"""The ``client.router.chat.completions`` namespaces and ``create()``.

Argument handling only: ``create()`` validates and encodes its arguments into
one :class:`Request` for the chat :class:`Endpoint`; the request's life after
that is in :mod:`._request`, shared with completions.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Final, Literal, cast, overload

from typing_extensions import Unpack

from ._chat_codec import assemble_chat_completion, build_chat_request
from ._chat_params import ChatCompletionCreateParams
from ._chat_stream import ChatStream, decode_chat_chunk, decode_chat_completion
from ._chat_wire import ChatCompletion, ChatCompletionChunk
from ._config import CHAT_COMPLETIONS_PATH
from ._request import ClientContext, Endpoint, request_from_keywords
from ._types import NOT_GIVEN, NotGiven

__all__ = ["CHAT_COMPLETIONS", "AsyncChat", "AsyncChatCompletions"]


class AsyncChatCompletions:
    """``client.router.chat.completions``."""

    __slots__ = ("_context",)

    def __init__(self, context: ClientContext) -> None:
        self._context = context

    @overload
    async def create(
        self,
        *,
        stream: Literal[False] | None | NotGiven = NOT_GIVEN,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatStream: ...

    @overload
    async def create(
        self, *, stream: bool | None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | ChatStream: ...

    async def create(
        self,
        *,
        stream: bool | None | NotGiven = NOT_GIVEN,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion | ChatStream:
        """Create a chat completion; with ``stream=True``, stream it chunk by chunk.

        Every argument is validated before any network I/O (an unknown key in
        a message or any other nested dict is an error naming its path, such
        as ``messages[2].tool_call_id``). The response decides how it is read:
        a JSON completion answering ``stream=True`` is yielded through the
        stream as one chunk, and an event stream answering a call without
        ``stream`` is assembled into a :class:`ChatCompletion`.

        :param messages: the conversation: dicts or message structs
            (:class:`SystemMessage`, :class:`UserMessage`, ...).
        :param model: model id, ``provider/model``.
        :param stream: return a :class:`ChatStream` once the headers arrive.
        :param retries: client-side retries for this call: a :class:`RetryPolicy`,
            the SDK's :class:`RetryConfig`, an int (``max_retries``), or
            ``None``/``False`` for none. Default: the client's.
        :param timeouts: a :class:`Timeouts`, or a float for the overall deadline
            in seconds. Default: the client's.
        :param extra_headers: added to (and overriding, case-insensitively) the
            request headers.
        :param idempotency_key: sent as ``Idempotency-Key`` on every attempt;
            generated when not given.
        :param extra_body: further top-level body fields, sent verbatim (a key
            that repeats a modelled field is rejected).
        :param params: the body fields, see :class:`ChatCompletionParams`.
        :return: a :class:`ChatCompletion`, or with ``stream=True`` a
            :class:`ChatStream` of :class:`ChatCompletionChunk`.
        :raises InvalidParameterError: an argument is invalid (no request sent).
        :raises APIError: the server answered with an error status.
        :raises APIConnectionError: the network failed or a time limit ran out.
        :raises ProtocolError: the response could not be read.
        :raises StreamAPIError: the answer was an error object, or an event
            stream answering a call without ``stream`` reported an error.
        """
        fields: dict[str, Any] = dict(params)
        extra_body: Mapping[str, Any] | None = fields.pop("extra_body", None)
        request = request_from_keywords(
            CHAT_COMPLETIONS,
            fields,
            stream,
            required=("messages", "model"),
            encode=partial(build_chat_request, extra_body=extra_body),
        )
        # The endpoint's stream class is ChatStream.
        return cast("ChatCompletion | ChatStream", await self._context.run(request))


#: ``POST /v2/router/chat/completions``.
CHAT_COMPLETIONS: Final[Endpoint[ChatCompletion, ChatCompletionChunk]] = Endpoint(
    path=CHAT_COMPLETIONS_PATH,
    decode=decode_chat_completion,
    decode_chunk=decode_chat_chunk,
    assemble=assemble_chat_completion,
    stream_type=ChatStream,
    operation="chat",
)


class AsyncChat:
    """``client.router.chat``."""

    __slots__ = ("completions",)

    def __init__(self, context: ClientContext) -> None:
        self.completions: AsyncChatCompletions = AsyncChatCompletions(context)
