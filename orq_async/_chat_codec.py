"""Chat request building, response decoding and stream accumulation.

Pure and synchronous: no I/O. Validation reuses the completions machinery in
:mod:`orq_async._codec` (plain builtins from structs and enums, whole floats for
integer fields, error paths such as ``messages[2].tool_call_id``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

import msgspec
import msgspec.inspect as mi
from msgspec import UNSET

from ._chat_wire import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Delta,
    FunctionOut,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
)
from ._codec import (
    ENCODER,
    _check_unique_codes,
    _integer_fields,
    _parameter_error,
    _plain,
    _Tree,
    _warn_deprecated,
    plain_body,
)
from ._exceptions import (
    IncompleteStreamError,
    InvalidParameterError,
    InvalidParameterTypeError,
)
from ._wire import Usage

__all__ = [
    "CHAT_CHUNK_DECODER",
    "CHAT_COMPLETION_DECODER",
    "ChatCompletionAccumulator",
    "assemble_chat_completion",
    "build_chat_request",
    "carries_error",
    "completion_as_chunk",
    "merge_common_chunk",
]

CHAT_COMPLETION_DECODER = msgspec.json.Decoder(ChatCompletion, strict=False)
CHAT_CHUNK_DECODER = msgspec.json.Decoder(ChatCompletionChunk, strict=False)


_MISSING: Final = re.compile(r"^Object missing required field `([^`]*)`")
_FIELDS: Final = frozenset(ChatCompletionRequest.__struct_fields__)
_NULLABLE: Final = frozenset(
    (
        "audio",
        "frequency_penalty",
        "max_tokens",
        "max_completion_tokens",
        "logprobs",
        "top_logprobs",
        "n",
        "presence_penalty",
        "seed",
        "stop",
        "stream_options",
        "temperature",
        "top_p",
        "top_k",
        "modalities",
    )
)
_INTEGER_FIELDS: Final = cast(
    "dict[str, _Tree]", _integer_fields(mi.type_info(ChatCompletionRequest))
)


def build_chat_request(
    params: Mapping[str, Any], extra_body: Mapping[str, Any] | None = None
) -> bytes:
    """Validate ``params`` (only the fields the caller set) and encode the body.

    :param params: the request fields; nested values are dicts or typed structs.
    :param extra_body: further top-level keys, merged last, verbatim.
    :return: the JSON body.
    :raises InvalidParameterTypeError: a value has the wrong type.
    :raises InvalidParameterError: a value is out of range, a required field is
        missing, a dict holds an unknown key, ``stream_options`` is given
        without ``stream=True``, or ``extra_body`` repeats a modelled field.
    """
    for required in ("model", "messages"):
        if params.get(required) is None:
            raise InvalidParameterError(required, "is required")
    body = plain_body(params, _INTEGER_FIELDS, _NULLABLE)
    if body.get("stream_options") is not None and body.get("stream") is not True:
        raise InvalidParameterError(
            "stream_options", "is only allowed together with stream=True"
        )
    if extra_body:
        clash = sorted(k for k in extra_body if k in _FIELDS)
        if clash:
            raise InvalidParameterError(
                f"extra_body.{clash[0]}", "repeats a modelled field; pass it directly"
            )
    if "orq" in body:
        _warn_deprecated(body["orq"])
    if "fallback_on_codes" in body or "orq" in body:
        _check_unique_codes(body)
    try:
        request = msgspec.convert(body, ChatCompletionRequest)
    except msgspec.ValidationError as exc:
        raise _chat_parameter_error(str(exc)) from None
    try:
        encoded = ENCODER.encode(request)
        if not extra_body:
            return encoded
        # Both are JSON objects: splice the extra members in after the last one.
        return b"".join(
            (encoded[:-1], b",", ENCODER.encode(_plain(dict(extra_body)))[1:])
        )
    except (TypeError, OverflowError, ValueError) as exc:
        # An object msgspec cannot encode inside a free-form field, or an
        # integer past 64 bits.
        raise InvalidParameterTypeError("<body>", f"cannot be encoded: {exc}") from None


def _chat_parameter_error(message: str) -> InvalidParameterError:
    """As for completions, but a missing field is named by its own path
    (``messages[0].tool_call_id``), the way the caller will look for it."""
    error = _parameter_error(message)
    missing = _MISSING.search(message)
    if missing is None:
        return error
    # Top-level required fields are checked before validation, so the path of
    # a missing field always has a parent.
    field = f"{error.field}.{missing.group(1)}"
    return type(error)(field, str(error).split(": ", 1)[1])


class _Choice:
    """Mutable per-choice state; strings collected as lists of pieces."""

    __slots__ = (
        "content",
        "finish",
        "logprobs",
        "reasoning",
        "redacted",
        "refusal",
        "role",
        "signature",
        "tools",
    )

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        self.reasoning: list[str] | None = None
        self.redacted: list[str] | None = None
        self.signature: str | None = None
        self.finish: str | None = None
        #: tool index -> [id, type, name, argument pieces, thought_signature]
        self.tools: dict[int | float, list[Any]] = {}
        #: "content" / "refusal" -> token list, extended chunk by chunk.
        self.logprobs: dict[str, Any] | None = None


def _add_rare(state: _Choice, delta: Delta) -> None:
    """The fields most chunks lack, kept off the per-chunk path."""
    if delta.refusal is not None:
        if state.refusal is None:
            state.refusal = []
        state.refusal.append(delta.refusal)
    if delta.reasoning is not None:
        if state.reasoning is None:
            state.reasoning = []
        state.reasoning.append(delta.reasoning)
    if delta.redacted_reasoning is not None:
        if state.redacted is None:
            state.redacted = []
        state.redacted.append(delta.redacted_reasoning)
    if delta.reasoning_signature is not None:
        state.signature = delta.reasoning_signature


def _add_logprobs(state: _Choice, logprobs: dict[str, Any]) -> None:
    """Extend the ``content`` and ``refusal`` token lists."""
    if state.logprobs is None:
        state.logprobs = {"content": None, "refusal": None}
    merged = state.logprobs
    for key in ("content", "refusal"):
        tokens = logprobs.get(key)
        if isinstance(tokens, list):
            if merged[key] is None:
                merged[key] = []
            merged[key].extend(tokens)


def _join(pieces: list[str] | None) -> str | None:
    return None if pieces is None else "".join(pieces)


class ChatCompletionAccumulator:
    """Builds a :class:`ChatCompletion` from streamed chunks, without I/O.

    Text pieces are joined per choice, tool-call fragments merged by ``index``
    (``id``, ``type`` and ``name``: the first non-empty value; ``arguments``:
    joined in arrival order, never parsed or repaired), ``finish_reason`` is
    the last non-null value and ``usage`` the last non-null one of any chunk.
    """

    __slots__ = (
        "_choices",
        "_chunks",
        "_first",
        "_fingerprint",
        "_tier",
        "_usage",
        "_zero",
    )

    def __init__(self) -> None:
        self._first: ChatCompletionChunk | None = None
        self._choices: dict[int | float, _Choice] = {}
        #: The choice of index 0, once seen (merge_common_chunk's only choice).
        self._zero: _Choice | None = None
        self._usage: Usage | None = None
        self._fingerprint: str | None = None
        self._tier: str | None = None
        self._chunks = 0

    @property
    def chunks_received(self) -> int:
        """How many chunks were added."""
        return self._chunks

    @property
    def complete(self) -> bool:
        """True when at least one choice was seen and every one has a finish reason."""
        return bool(self._choices) and all(
            c.finish is not None for c in self._choices.values()
        )

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Merge one chunk.

        :param chunk: the next chunk of the stream.
        """
        self._chunks += 1
        if self._first is None:
            self._first = chunk
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.system_fingerprint is not None:
            self._fingerprint = chunk.system_fingerprint
        if chunk.service_tier is not None:
            self._tier = chunk.service_tier
        choices = self._choices
        for choice in chunk.choices:
            state = choices.get(choice.index)
            if state is None:
                state = choices[choice.index] = _Choice()
                if choice.index == 0:
                    self._zero = state
            delta = choice.delta
            if delta.content is not None:
                if state.content is None:
                    state.content = [delta.content]
                else:
                    state.content.append(delta.content)
            if choice.finish_reason is not None:
                state.finish = choice.finish_reason
            if choice.logprobs is not None:
                _add_logprobs(state, choice.logprobs)
            if delta.role is not None and state.role is None:
                state.role = delta.role
            if delta.tool_calls is not None:
                self._add_tools(state, delta.tool_calls)
            if (
                delta.refusal is not None
                or delta.reasoning is not None
                or delta.redacted_reasoning is not None
                or delta.reasoning_signature is not None
            ):
                _add_rare(state, delta)

    @staticmethod
    def _add_tools(state: _Choice, fragments: list[ToolCallDelta]) -> None:
        tools = state.tools
        for fragment in fragments:
            index = fragment.index
            if index is None:
                index = next(
                    (
                        i
                        for i, t in tools.items()
                        if fragment.id is not None and t[0] == fragment.id
                    ),
                    None,
                )
                if index is None:
                    if fragment.id is None and tools:
                        index = next(reversed(tools))
                    else:
                        index = max(tools, default=-1) + 1
            call = tools.get(index)
            if call is None:
                call = tools[index] = [None, None, None, [], None]
            if fragment.id and not call[0]:
                call[0] = fragment.id
            if fragment.type and not call[1]:
                call[1] = fragment.type
            if fragment.thought_signature and not call[4]:
                call[4] = fragment.thought_signature
            function = fragment.function
            if function is not None:
                if function.name and not call[2]:
                    call[2] = function.name
                if function.arguments:
                    call[3].append(function.arguments)

    @property
    def snapshot(self) -> ChatCompletion:
        """The completion as accumulated so far (a new object each time)."""
        first = self._first
        return ChatCompletion(
            id=first.id if first else "",
            choices=[
                _choice(index, self._choices[index]) for index in sorted(self._choices)
            ],
            object="chat.completion",
            created=first.created if first else None,
            model=first.model if first else "",
            system_fingerprint=self._fingerprint,
            service_tier=self._tier,
            usage=self._usage,
        )

    def check_complete(self, *, request_id: str | None = None) -> None:
        """Raise unless every choice seen has a ``finish_reason``.

        Call it when a stream ended without ``[DONE]``.

        :param request_id: the response's request id, for the error.
        :raises IncompleteStreamError: with ``partial_completion`` set to the
            :attr:`snapshot` and ``partial_text`` to choice 0's text so far.
        """
        if self.complete:
            return
        partial = self.snapshot
        first = next((c for c in partial.choices if c.index == 0), None)
        text = (first.message.content or "") if first else ""
        raise IncompleteStreamError(
            f"the chat stream ended after {self._chunks} chunk(s) before every "
            "choice had a finish_reason",
            chunks_received=self._chunks,
            partial_text=text,
            partial_completion=partial,
            request_id=request_id,
        )

    def result(self) -> ChatCompletion:
        """The accumulated completion (same as :attr:`snapshot`).

        :return: the assembled completion.
        """
        return self.snapshot


def merge_common_chunk(
    accumulator: ChatCompletionAccumulator, chunk: ChatCompletionChunk
) -> str | None:
    """Merge ``chunk`` into ``accumulator`` if it is the common chunk, else
    leave it to :meth:`ChatCompletionAccumulator.add`.

    The common chunk, after the first: one choice of index 0 with no
    finish reason, logprobs or usage, whose delta carries a text piece (the
    choice already has text) or one argument piece of a known tool call,
    and nothing else new. It is merged exactly as ``add`` would, in
    fewer steps (most of a stream's chunks are this one).

    :param accumulator: where the stream's chunks go.
    :param chunk: the next chunk of the stream.
    :return: choice 0's text piece (``""`` for a tool-call piece), or None
        when nothing was merged: pass the chunk to ``add``.
    """
    try:
        (choice,) = chunk.choices
    except ValueError:  # none (the usage-only chunk), or several
        return None
    zero = accumulator._zero
    delta = choice.delta
    if (
        zero is None
        or choice.index != 0
        or choice.finish_reason is not None
        or choice.logprobs is not None
        or chunk.usage is not None
        or (delta.role is not None and zero.role is None)
        or delta.refusal is not None
        or delta.reasoning is not None
        or delta.redacted_reasoning is not None
        or delta.reasoning_signature is not None
    ):
        return None
    content = delta.content
    fragments = delta.tool_calls
    if fragments is None:
        pieces = zero.content
        if content is None or pieces is None:
            return None
        pieces.append(content)
    else:
        if content is not None:
            return None
        try:
            (fragment,) = fragments
        except ValueError:
            return None
        function = fragment.function
        if (
            function is None
            or function.name is not None
            or fragment.id is not None
            or fragment.type is not None
            or fragment.thought_signature is not None
            or fragment.index is None
        ):
            return None
        call = zero.tools.get(fragment.index)
        if call is None:
            return None
        if function.arguments:
            call[3].append(function.arguments)
        content = ""
    accumulator._chunks += 1
    if chunk.system_fingerprint is not None:
        accumulator._fingerprint = chunk.system_fingerprint
    if chunk.service_tier is not None:
        accumulator._tier = chunk.service_tier
    return content


def _choice(index: int | float, state: _Choice) -> ChatChoice:
    tools = [
        ToolCall(
            id=call[0],
            type=call[1] or "function",
            function=FunctionOut(name=call[2], arguments="".join(call[3])),
            thought_signature=call[4],
        )
        for _, call in sorted(state.tools.items())
    ]
    return ChatChoice(
        message=ResponseMessage(
            role=state.role or "assistant",
            content=_join(state.content),
            refusal=_join(state.refusal),
            tool_calls=tools or None,
            reasoning=_join(state.reasoning),
            reasoning_signature=state.signature,
            redacted_reasoning=_join(state.redacted),
        ),
        index=index,
        finish_reason=state.finish,
        logprobs=None
        if state.logprobs is None
        else {k: None if v is None else list(v) for k, v in state.logprobs.items()},
    )


def carries_error(answer: ChatCompletion | ChatCompletionChunk) -> bool:
    """Whether a decoded chat object was an error payload: one with a non-null
    top-level ``error`` member (an object or a string, even next to
    ``choices``).

    Every chat response field has a default, so an error payload such as
    ``{"error": {...}}`` decodes as an empty chunk or completion; the member
    itself is decoded into ``_error`` (left unset when absent), which tells
    them apart without a second look at the bytes.
    """
    error = answer._error
    return error is not UNSET and error is not None


def assemble_chat_completion(
    chunks: Iterable[ChatCompletionChunk],
) -> ChatCompletion | None:
    """One :class:`ChatCompletion` from a streamed answer's chunks (None: none)."""
    accumulator = ChatCompletionAccumulator()
    for chunk in chunks:
        accumulator.add(chunk)
    return None if accumulator.chunks_received == 0 else accumulator.result()


def completion_as_chunk(body: bytes) -> bytes:
    """A whole ``chat.completion`` JSON body as one chunk's JSON whose deltas
    rebuild it (for a JSON answer to a stream request).

    :raises msgspec.DecodeError: the body is not a chat completion.
    """
    completion = CHAT_COMPLETION_DECODER.decode(body)
    choices = []
    for choice in completion.choices:
        message = choice.message
        delta: dict[str, Any] = {"role": message.role}
        for key in (
            "content",
            "refusal",
            "reasoning",
            "reasoning_signature",
            "redacted_reasoning",
        ):
            value = getattr(message, key)
            if value is not None:
                delta[key] = value
        if message.tool_calls:
            delta["tool_calls"] = [
                {
                    "index": i,
                    "id": call.id,
                    "type": call.type,
                    "function": {
                        "name": call.function.name,
                        "arguments": call.function.arguments,
                    },
                    "thought_signature": call.thought_signature,
                }
                for i, call in enumerate(message.tool_calls)
            ]
        choices.append(
            {
                "index": choice.index,
                "delta": delta,
                "finish_reason": choice.finish_reason,
                "logprobs": choice.logprobs,
            }
        )
    return ENCODER.encode(
        {
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": completion.created,
            "model": completion.model,
            "system_fingerprint": completion.system_fingerprint,
            "service_tier": completion.service_tier,
            "usage": completion.usage,
            "choices": choices,
        }
    )
