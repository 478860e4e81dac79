"""The ``client.router.completions`` namespaces and ``create()``.

Argument handling only: ``create()`` validates and encodes its arguments into
one :class:`Request` for the completions :class:`Endpoint`; the request's life
after that is in :mod:`._request`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, overload

from typing_extensions import Required, TypedDict, Unpack

from ._chat_resources import AsyncChat
from ._codec import (
    CHUNK_DECODER,
    assemble_completion,
    build_request,
    decode_completion,
)
from ._config import COMPLETIONS_PATH
from ._request import (
    ClientContext,
    Endpoint,
    RetriesOption,
    TimeoutsOption,
    request_from_keywords,
)
from ._streaming import EventStream
from ._types import NOT_GIVEN, NotGiven
from ._wire import (
    Cache,
    Completion,
    CompletionChunk,
    Fallback,
    LoadBalancer,
    OrqConfig,
    PiiRedactionPlugin,
    Retry,
    Thinking,
    Timeout,
)

__all__ = [
    "AsyncCompletions",
    "AsyncRouter",
    "CompletionCreateParams",
    "CompletionParams",
]

PromptInput = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]
Nested = Mapping[str, Any]


class CompletionParams(TypedDict, total=False):
    """The optional body fields of ``POST /v2/router/completions``.

    Nested fields take the typed struct or a plain dict with the same keys; both
    give identical bytes. ``retry``, ``fallbacks``, ``fallback_on_codes``,
    ``timeout``, ``cache`` and ``load_balancer`` configure the Orq gateway
    (server side), not this client. Integer fields also take a float with an
    integral value (``64.0``), sent as the integer.
    """

    echo: bool | None
    frequency_penalty: float | None
    max_tokens: int | float | None
    presence_penalty: float | None
    seed: int | float | None
    stop: str | Sequence[str] | None
    temperature: float | None
    top_p: float | None
    n: int | float | None
    user: str
    name: str
    fallback_on_codes: Sequence[int]
    fallbacks: Sequence[Fallback | Nested]
    retry: Retry | Nested
    cache: Cache | Nested
    load_balancer: LoadBalancer | Nested
    timeout: Timeout | Nested
    thinking: Thinking | Nested | None
    plugins: Sequence[PiiRedactionPlugin | Nested]
    orq: OrqConfig | Nested


class CompletionCreateParams(CompletionParams, total=False):
    """Every keyword of ``create()`` but ``stream``: the one definition both
    clients' signatures are built from.

    ``model`` and ``prompt`` are required; the body fields come from
    :class:`CompletionParams`; the rest configure this call on the client side.
    """

    model: Required[str]
    prompt: Required[PromptInput]
    #: Client-side retries for this call: a :class:`RetryPolicy`, the SDK's
    #: :class:`RetryConfig`, an int (``max_retries``), or ``None``/``False``.
    retries: RetriesOption
    #: A :class:`Timeouts`, or a float for the overall deadline in seconds.
    timeouts: TimeoutsOption
    #: Added to (and overriding, case-insensitively) the request headers.
    extra_headers: Mapping[str, str] | None
    #: Sent as ``Idempotency-Key`` on every attempt; generated when not given.
    idempotency_key: str | None


class AsyncCompletions:
    """``client.router.completions``."""

    __slots__ = ("_context",)

    def __init__(self, context: ClientContext) -> None:
        self._context = context

    @overload
    async def create(
        self,
        *,
        stream: Literal[False] | None | NotGiven = NOT_GIVEN,
        **params: Unpack[CompletionCreateParams],
    ) -> Completion: ...

    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[CompletionCreateParams]
    ) -> EventStream[CompletionChunk]: ...

    @overload
    async def create(
        self, *, stream: bool | None, **params: Unpack[CompletionCreateParams]
    ) -> Completion | EventStream[CompletionChunk]: ...

    async def create(
        self,
        *,
        stream: bool | None | NotGiven = NOT_GIVEN,
        **params: Unpack[CompletionCreateParams],
    ) -> Completion | EventStream[CompletionChunk]:
        """Create a completion; with ``stream=True``, stream it chunk by chunk.

        Every argument is validated before any network I/O. The response
        decides how it is read: a JSON completion answering ``stream=True`` is
        yielded through the stream as one chunk, and an event stream answering
        a call without ``stream`` is assembled into a :class:`Completion`.

        :param model: model id, ``provider/model``.
        :param prompt: ``str``, ``list[str]``, ``list[int]`` or ``list[list[int]]``.
        :param stream: return an :class:`EventStream` once the headers arrive.
        :param retries: client-side retries for this call: a :class:`RetryPolicy`,
            the SDK's :class:`RetryConfig`, an int (``max_retries``), or
            ``None``/``False`` for none. Default: the client's.
        :param timeouts: a :class:`Timeouts`, or a float for the overall deadline
            in seconds. Default: the client's.
        :param extra_headers: added to (and overriding, case-insensitively) the
            request headers.
        :param idempotency_key: sent as ``Idempotency-Key`` on every attempt;
            generated when not given.
        :param params: the body fields, see :class:`CompletionParams`.
        :return: a :class:`Completion`, or with ``stream=True`` an
            :class:`EventStream` of :class:`CompletionChunk`.
        :raises InvalidParameterError: an argument is invalid (no request sent).
        :raises APIError: the server answered with an error status.
        :raises APIConnectionError: the network failed or a time limit ran out.
        :raises ProtocolError: the response could not be read.
        :raises StreamAPIError: an event stream answering a call without
            ``stream`` reported an error.
        """
        request = request_from_keywords(
            COMPLETIONS,
            dict(params),
            stream,
            required=("model", "prompt"),
            encode=build_request,
        )
        return await self._context.run(request)


#: ``POST /v2/router/completions``.
COMPLETIONS: Final[Endpoint[Completion, CompletionChunk]] = Endpoint(
    path=COMPLETIONS_PATH,
    decode=decode_completion,
    decode_chunk=CHUNK_DECODER.decode,
    assemble=assemble_completion,
)


class AsyncRouter:
    """``client.router``: ``completions`` and ``chat.completions``."""

    __slots__ = ("chat", "completions")

    def __init__(self, context: ClientContext) -> None:
        self.completions: AsyncCompletions = AsyncCompletions(context)
        self.chat: AsyncChat = AsyncChat(context)
