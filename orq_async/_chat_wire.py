"""Wire structs for ``POST /v2/router/chat/completions``.

Pure data: no I/O, no asyncio. Field names equal the wire names. The shared
gateway structs (retry, cache, fallbacks, load balancer, timeout, thinking,
plugins, the deprecated ``orq`` container), :class:`~orq_async._wire.Usage` and
:class:`~orq_async._wire.ErrorBody` come from :mod:`orq_async._wire`.

Request structs forbid unknown keys and carry range constraints; response
structs ignore unknown fields and accept any ``finish_reason``, ``role`` or
tool ``type`` string, a string ``created``, ``usage: null`` and floats where a
count or index is expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Annotated, Any, Literal, TypeAlias, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ._exceptions import ToolArgumentsError
from ._wire import (
    Cache,
    Fallback,
    FallbackStatus,
    LoadBalancer,
    Number,
    OrqConfig,
    Penalty,
    PiiRedactionPlugin,
    PositiveInt,
    RequestStruct,
    ResponseStruct,
    Retry,
    Stop,
    Temperature,
    Thinking,
    Timeout,
    TopP,
    Usage,
)

__all__ = [
    "AssistantMessage",
    "AssistantToolCall",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessage",
    "ChunkChoice",
    "Delta",
    "DeveloperMessage",
    "FunctionCall",
    "ResponseMessage",
    "SystemMessage",
    "ToolCall",
    "ToolCallDelta",
    "ToolMessage",
    "UserMessage",
]


# --- request: content parts -----------------------------------------------------


class CacheControl(RequestStruct):
    """Anthropic prompt-cache breakpoint."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | UnsetType = UNSET


class TextPart(RequestStruct, tag_field="type", tag="text"):
    """A text content part."""

    text: str
    cache_control: CacheControl | UnsetType = UNSET


class ImageURL(RequestStruct):
    """An image by URL or data URI, with an optional detail level."""

    url: str
    detail: Literal["low", "high", "auto"] | UnsetType = UNSET


class ImagePart(RequestStruct, tag_field="type", tag="image_url"):
    """An image content part (user messages only)."""

    image_url: ImageURL
    cache_control: CacheControl | UnsetType = UNSET


class InputAudio(RequestStruct):
    """Base64 audio with its format."""

    data: str
    format: Literal["mp3", "wav"]


class AudioPart(RequestStruct, tag_field="type", tag="input_audio"):
    """An audio content part (user messages only)."""

    input_audio: InputAudio


class File(RequestStruct, rename={"mime_type": "mimeType"}):
    """A file by data URI, provider file id or URL (exactly one).

    ``mime_type`` is ``mimeType`` on the wire.
    """

    file_data: str | UnsetType = UNSET
    uri: str | UnsetType = UNSET
    mime_type: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET
    filename: str | UnsetType = UNSET


class FilePart(RequestStruct, tag_field="type", tag="file"):
    """A file content part (user messages only)."""

    file: File
    cache_control: CacheControl | UnsetType = UNSET


class RefusalPart(RequestStruct, tag_field="type", tag="refusal"):
    """A refusal replayed in an assistant message."""

    refusal: str


class ReasoningPart(RequestStruct, tag_field="type", tag="reasoning"):
    """Reasoning replayed in an assistant message."""

    reasoning: str
    signature: str | UnsetType = UNSET


class RedactedReasoningPart(RequestStruct, tag_field="type", tag="redacted_reasoning"):
    """Encrypted reasoning replayed in an assistant message."""

    data: str


UserPart = Union[TextPart, ImagePart, AudioPart, FilePart]  # noqa: UP007
AssistantPart = Union[  # noqa: UP007
    TextPart, RefusalPart, ReasoningPart, RedactedReasoningPart
]
TextParts = Annotated[list[TextPart], Meta(min_length=1)]


# --- request: messages ----------------------------------------------------------


class SystemMessage(RequestStruct, tag_field="role", tag="system"):
    """A system message: a string or text parts."""

    content: str | TextParts
    name: str | UnsetType = UNSET


class DeveloperMessage(RequestStruct, tag_field="role", tag="developer"):
    """A developer message: a string or text parts."""

    content: str | TextParts
    name: str | UnsetType = UNSET


class UserMessage(RequestStruct, tag_field="role", tag="user"):
    """A user message: a string or text, image, audio and file parts."""

    content: str | Annotated[list[UserPart], Meta(min_length=1)]
    name: str | UnsetType = UNSET


class FunctionCall(RequestStruct):
    """The function of a replayed tool call; ``arguments`` is a JSON string."""

    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class GoogleExtra(RequestStruct):
    """Gemini's thought signature, echoed back unchanged."""

    thought_signature: str | UnsetType = UNSET


class ExtraContent(RequestStruct):
    """Provider-specific data of a replayed tool call."""

    google: GoogleExtra | UnsetType = UNSET


class AssistantToolCall(RequestStruct):
    """A tool call replayed in an assistant message."""

    id: str
    type: Literal["function"]
    function: FunctionCall
    thought_signature: str | UnsetType = UNSET
    extra_content: ExtraContent | UnsetType = UNSET


class AudioReference(RequestStruct):
    """A previous audio reply, by id."""

    id: str


class AssistantMessage(RequestStruct, tag_field="role", tag="assistant"):
    """An earlier assistant turn.

    ``content`` may be left out when ``tool_calls`` is given.
    """

    content: str | list[AssistantPart] | None | UnsetType = UNSET
    refusal: str | None | UnsetType = UNSET
    name: str | UnsetType = UNSET
    audio: AudioReference | None | UnsetType = UNSET
    tool_calls: list[AssistantToolCall] | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET


class ToolMessage(RequestStruct, tag_field="role", tag="tool"):
    """A tool's result for the call ``tool_call_id``."""

    content: str | TextParts
    tool_call_id: str | None
    cache_control: CacheControl | UnsetType = UNSET


ChatMessage = Union[  # noqa: UP007
    SystemMessage, DeveloperMessage, UserMessage, AssistantMessage, ToolMessage
]


# --- request: tools and formats -------------------------------------------------


class FunctionDefinition(RequestStruct):
    """A callable function; ``parameters`` is a JSON Schema sent verbatim."""

    name: str
    description: str | UnsetType = UNSET
    #: Free-form JSON Schema, sent verbatim.
    parameters: dict[str, Any] | UnsetType = UNSET
    strict: bool | UnsetType = UNSET


class Tool(RequestStruct, tag_field="type", tag="function"):
    """A tool the model may call (``type`` is always sent as ``function``)."""

    function: FunctionDefinition


class NamedFunction(RequestStruct):
    """The function a named tool choice forces."""

    name: str


class NamedToolChoice(RequestStruct, tag_field="type", tag="function"):
    """Force one function (``type`` is always sent as ``function``)."""

    function: NamedFunction


ToolChoice = Union[Literal["none", "auto", "required"], NamedToolChoice]  # noqa: UP007


class ResponseFormatText(RequestStruct, tag_field="type", tag="text"):
    """Plain text output."""


class ResponseFormatJSONObject(RequestStruct, tag_field="type", tag="json_object"):
    """Any JSON object as output."""


class JSONSchema(RequestStruct):
    """Structured output: ``schema`` is a JSON Schema sent verbatim."""

    name: Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: str | UnsetType = UNSET
    #: Free-form JSON Schema, sent verbatim.
    schema: Any | UnsetType = UNSET
    strict: bool | UnsetType = UNSET


class ResponseFormatJSONSchema(RequestStruct, tag_field="type", tag="json_schema"):
    """Output conforming to a JSON Schema."""

    json_schema: JSONSchema


ResponseFormat = Union[  # noqa: UP007
    ResponseFormatText, ResponseFormatJSONObject, ResponseFormatJSONSchema
]


class StreamOptions(RequestStruct):
    """Streaming options; only valid together with ``stream=True``."""

    include_usage: bool | UnsetType = UNSET


class Audio(RequestStruct):
    """Voice and format of an audio reply (with ``modalities`` holding ``audio``)."""

    voice: Literal["alloy", "echo", "fable", "onyx", "nova", "shimmer"]
    format: Literal["wav", "mp3", "flac", "opus", "pcm16"]


class Guardrail(RequestStruct):
    """A guardrail or evaluator run on the input or the output."""

    id: str
    execute_on: Literal["input", "output"]


class ResponseHealingPlugin(RequestStruct, tag_field="id", tag="response_healing"):
    """Repairs malformed JSON in non-streamed output (server side)."""


class TraceScrubbingPlugin(RequestStruct, tag_field="id", tag="trace_scrubbing"):
    """Masks parts of the trace stored by Orq."""

    mask: Annotated[
        list[Literal["all", "system", "input", "output", "metadata", "variables"]],
        Meta(min_length=1),
    ]


ChatPlugin = Union[  # noqa: UP007
    PiiRedactionPlugin, ResponseHealingPlugin, TraceScrubbingPlugin
]

Metadata = Annotated[
    dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=512)]],
    Meta(max_length=16),
]
ReasoningEffort = Literal[
    "none", "instant", "minimal", "low", "medium", "high", "xhigh", "max"
]
TopLogprobs = Annotated[int, Meta(ge=0, le=20)]
TopKAny: TypeAlias = int | float


class ChatCompletionRequest(RequestStruct):
    """The request body. Field order is the schema's declaration order."""

    messages: list[ChatMessage]
    model: Annotated[str, Meta(min_length=1)]
    metadata: Metadata | UnsetType = UNSET
    name: str | UnsetType = UNSET
    audio: Audio | None | UnsetType = UNSET
    frequency_penalty: Penalty | None | UnsetType = UNSET
    max_tokens: PositiveInt | None | UnsetType = UNSET
    max_completion_tokens: PositiveInt | None | UnsetType = UNSET
    logprobs: bool | None | UnsetType = UNSET
    top_logprobs: TopLogprobs | None | UnsetType = UNSET
    n: PositiveInt | None | UnsetType = UNSET
    presence_penalty: Penalty | None | UnsetType = UNSET
    response_format: ResponseFormat | UnsetType = UNSET
    reasoning_effort: ReasoningEffort | UnsetType = UNSET
    verbosity: str | UnsetType = UNSET
    seed: int | None | UnsetType = UNSET
    stop: Stop | None | UnsetType = UNSET
    stream_options: StreamOptions | None | UnsetType = UNSET
    thinking: Thinking | UnsetType = UNSET
    temperature: Temperature | None | UnsetType = UNSET
    top_p: TopP | None | UnsetType = UNSET
    top_k: TopKAny | None | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET
    modalities: list[Literal["text", "audio"]] | None | UnsetType = UNSET
    guardrails: list[Guardrail] | UnsetType = UNSET
    plugins: list[ChatPlugin] | UnsetType = UNSET
    fallback_on_codes: (
        Annotated[list[FallbackStatus], Meta(max_length=20)] | UnsetType
    ) = UNSET
    fallbacks: list[Fallback] | UnsetType = UNSET
    retry: Retry | UnsetType = UNSET
    cache: Cache | UnsetType = UNSET
    load_balancer: LoadBalancer | UnsetType = UNSET
    timeout: Timeout | UnsetType = UNSET
    variables: dict[str, Any] | UnsetType = UNSET
    cache_control: CacheControl | UnsetType = UNSET
    prompt_cache_key: str | UnsetType = UNSET
    orq: OrqConfig | UnsetType = UNSET
    stream: bool | UnsetType = UNSET


# --- responses ------------------------------------------------------------------


class FunctionOut(ResponseStruct):
    """The function of a tool call: its name and raw JSON arguments."""

    name: str | None = None
    arguments: str = ""


class ToolCall(ResponseStruct):
    """A tool call the model made. ``function.arguments`` is the raw JSON string."""

    id: str | None = None
    #: ``"function"``, or a type we don't know (kept as sent).
    type: str = "function"
    function: FunctionOut = msgspec.field(default_factory=FunctionOut)
    thought_signature: str | None = None

    def parse_arguments(self) -> dict[str, Any]:
        """The arguments decoded as a JSON object; ``""`` gives ``{}``.

        :return: the decoded arguments.
        :raises ToolArgumentsError: the arguments are not a complete JSON object
            (for example, cut off by ``finish_reason: "length"`` or a dropped
            stream).
        """
        raw = self.function.arguments
        if not raw:
            return {}
        try:
            value = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            problem = f"is not valid JSON: {exc}"
        else:
            if type(value) is dict:
                return value
            problem = f"is a JSON {type(value).__name__}, not an object"
        raise ToolArgumentsError(
            f"arguments of tool call {self.id!r} ({self.function.name!r}) {problem}",
            raw=raw,
            tool_call_id=self.id,
            name=self.function.name,
        )


class ResponseMessage(ResponseStruct):
    """The assistant message of a choice."""

    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning: str | None = None
    reasoning_signature: str | None = None
    redacted_reasoning: str | None = None
    audio: dict[str, Any] | None = None


class ChatChoice(ResponseStruct):
    """One choice of a completion."""

    message: ResponseMessage = msgspec.field(default_factory=ResponseMessage)
    index: Number = 0
    #: ``"stop"``, ``"length"``, ``"tool_calls"``, ..., or a value we don't know.
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatCompletion(ResponseStruct, repr_omit_defaults=True):
    """A whole (non-streamed or accumulated) chat completion.

    It is also a context manager and an iterable of one event (itself, with
    ``.data`` naming itself too), so the official SDK's documented
    ``with res as event_stream: for event in event_stream:`` runs unchanged on
    a non-streamed answer.
    """

    id: str = ""
    choices: list[ChatChoice] = msgspec.field(default_factory=list)
    object: str = "chat.completion"
    created: int | float | str | None = None
    model: str = ""
    system_fingerprint: str | None = None
    service_tier: str | None = None
    usage: Usage | None = None
    #: The body's top-level ``error`` member (see ``carries_error``).
    _error: Any = msgspec.field(default=UNSET, name="error")

    @property
    def data(self) -> ChatCompletion:
        """The completion itself, where the official SDK's stream events keep it."""
        return self

    def __enter__(self) -> ChatCompletion:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def __iter__(self) -> Iterator[ChatCompletion]:
        return iter((self,))


class FunctionDelta(ResponseStruct, gc=False):
    """A piece of a streamed tool call's function."""

    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(ResponseStruct):
    """A fragment of a streamed tool call; merge fragments by ``index``."""

    index: Number | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionDelta | None = None
    thought_signature: str | None = None


class Delta(ResponseStruct):
    """What one chunk adds to a choice's message."""

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    reasoning: str | None = None
    reasoning_signature: str | None = None
    redacted_reasoning: str | None = None


class ChunkChoice(ResponseStruct):
    """One choice's part of a chunk; ``finish_reason`` is set on its last chunk."""

    delta: Delta = msgspec.field(default_factory=Delta)
    index: Number = 0
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatCompletionChunk(ResponseStruct, repr_omit_defaults=True):
    """One streamed piece (the SSE ``data`` of one event). ``choices`` may be
    empty: the usage-only chunk sent with ``stream_options.include_usage``."""

    id: str = ""
    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    object: str = "chat.completion.chunk"
    created: int | float | str | None = None
    model: str = ""
    system_fingerprint: str | None = None
    service_tier: str | None = None
    usage: Usage | None = None
    #: The payload's top-level ``error`` member: an error object decodes as a
    #: chunk too (every field has a default), and this tells them apart in the
    #: same decode (see ``carries_error``). A chunk a stream yields has none.
    _error: Any = msgspec.field(default=UNSET, name="error")

    @property
    def data(self) -> ChatCompletionChunk:
        """The chunk itself, where the official SDK's stream events keep it."""
        return self
