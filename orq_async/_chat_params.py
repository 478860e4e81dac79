"""Keyword arguments of the chat ``create()``: one definition for both clients.

Pure typing: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from typing_extensions import Required, TypedDict

from ._chat_wire import (
    Audio,
    CacheControl,
    ChatMessage,
    ChatPlugin,
    Guardrail,
    ReasoningEffort,
    ResponseFormat,
    StreamOptions,
    Tool,
    ToolChoice,
)
from ._config import Timeouts
from ._retry import RetryConfig, RetryPolicy
from ._wire import (
    Cache,
    Fallback,
    LoadBalancer,
    OrqConfig,
    Retry,
    Thinking,
    Timeout,
)

__all__ = ["ChatCompletionCreateParams", "ChatCompletionParams"]

Nested = Mapping[str, Any]


class ChatCompletionParams(TypedDict, total=False):
    """The optional body fields of ``POST /v2/router/chat/completions``.

    Nested fields (each message and content part too) take the typed struct or
    a plain dict with the same keys; both give identical bytes. ``retry``,
    ``fallbacks``, ``fallback_on_codes``, ``timeout``, ``cache`` and
    ``load_balancer`` configure the Orq gateway (server side), not this client.
    Integer fields also take a float with an integral value (``64.0``), sent as
    the integer.
    """

    metadata: Mapping[str, str]
    name: str
    audio: Audio | Nested | None
    frequency_penalty: float | None
    max_tokens: int | float | None
    max_completion_tokens: int | float | None
    logprobs: bool | None
    top_logprobs: int | float | None
    n: int | float | None
    presence_penalty: float | None
    response_format: ResponseFormat | Nested
    reasoning_effort: ReasoningEffort
    verbosity: str
    seed: int | float | None
    stop: str | Sequence[str] | None
    #: Only together with ``stream=True``.
    stream_options: StreamOptions | Nested | None
    thinking: Thinking | Nested
    temperature: float | None
    top_p: float | None
    top_k: float | None
    tools: Sequence[Tool | Nested]
    tool_choice: ToolChoice | Nested
    parallel_tool_calls: bool
    modalities: Sequence[Literal["text", "audio"]] | None
    guardrails: Sequence[Guardrail | Nested]
    plugins: Sequence[ChatPlugin | Nested]
    fallback_on_codes: Sequence[int]
    fallbacks: Sequence[Fallback | Nested]
    retry: Retry | Nested
    cache: Cache | Nested
    load_balancer: LoadBalancer | Nested
    timeout: Timeout | Nested
    variables: Mapping[str, Any]
    cache_control: CacheControl | Nested
    prompt_cache_key: str
    orq: OrqConfig | Nested


class ChatCompletionCreateParams(ChatCompletionParams, total=False):
    """Every keyword of the chat ``create()`` but ``stream``.

    ``messages`` and ``model`` are required; the body fields come from
    :class:`ChatCompletionParams`; the rest configure this call on the client
    side, except ``extra_body``, which is merged into the body last.
    """

    messages: Required[Sequence[ChatMessage | Nested]]
    model: Required[str]
    #: Further top-level body fields (for example OpenAI-only ones), sent
    #: verbatim; a key that repeats a modelled field is rejected.
    extra_body: Mapping[str, Any] | None
    #: Client-side retries for this call: a :class:`RetryPolicy`, the SDK's
    #: :class:`RetryConfig`, an int (``max_retries``), or ``None``/``False``.
    retries: RetryPolicy | RetryConfig | int | bool | None
    #: A :class:`Timeouts`, or a float for the overall deadline in seconds.
    timeouts: Timeouts | float | None
    #: Added to (and overriding, case-insensitively) the request headers.
    extra_headers: Mapping[str, str] | None
    #: Sent as ``Idempotency-Key`` on every attempt; generated when not given.
    idempotency_key: str | None
