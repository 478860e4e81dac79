"""Wire structs for ``POST /v2/router/completions``.

Pure data: no I/O, no asyncio. Field names equal the wire names (the Orq JSON is
already snake_case).

Two families with different rules:

* Request structs (:class:`RequestStruct`) forbid unknown fields, so a typo in a
  dict the caller passed is an error instead of being dropped (the official SDK
  drops it), and carry range constraints so validation happens in one
  ``msgspec.convert`` pass before any I/O. Every optional field defaults to
  ``UNSET`` and is omitted from the body: no SDK default is ever materialised.
  Plain numbers are ``int | float`` so integers stay integers on the wire;
  fields that count something are ``int`` (the request builder turns a whole
  float such as ``64.0`` into the int before validation).
* Response structs (:class:`ResponseStruct`) ignore unknown fields and tolerate a
  null or unknown ``finish_reason``, a missing ``usage``, and a float where a
  count or index is expected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

__all__ = [
    "AgenticRagConfig",
    "Cache",
    "Completion",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionRequest",
    "CompletionTokensDetails",
    "Contact",
    "ErrorBody",
    "ErrorDetail",
    "Fallback",
    "Identity",
    "KnowledgeBase",
    "LoadBalancer",
    "LoadBalancerModel",
    "OrqConfig",
    "PiiRedactionPlugin",
    "PromptReference",
    "PromptTokensDetails",
    "RerankConfig",
    "RequestStruct",
    "ResponseStruct",
    "Retry",
    "SearchOptions",
    "Thinking",
    "ThinkingAdaptive",
    "ThinkingDisabled",
    "ThinkingEnabled",
    "Thread",
    "Timeout",
    "Usage",
]


# Numbers are ``int | float`` with the same bounds on both, so ints stay ints.
Temperature: TypeAlias = (
    Annotated[int, Meta(ge=0, le=2)] | Annotated[float, Meta(ge=0, le=2)]
)
Penalty: TypeAlias = (
    Annotated[int, Meta(ge=-2, le=2)] | Annotated[float, Meta(ge=-2, le=2)]
)
TopP: TypeAlias = Annotated[int, Meta(ge=0, le=1)] | Annotated[float, Meta(ge=0, le=1)]
UnitInterval: TypeAlias = (
    Annotated[int, Meta(ge=0, le=1)] | Annotated[float, Meta(ge=0, le=1)]
)
#: Fields that count something are ``int`` only: the request builder turns a
#: whole float (``64.0``) into the int first, so the wire carries ``64``.
RetryCount = Annotated[int, Meta(ge=1, le=5)]
CacheTTL: TypeAlias = (
    Annotated[int, Meta(ge=1, le=259200)] | Annotated[float, Meta(ge=1, le=259200)]
)
Weight: TypeAlias = (
    Annotated[int, Meta(ge=1, le=1)] | Annotated[float, Meta(ge=0.001, le=1)]
)
AtLeastOne: TypeAlias = Annotated[int, Meta(ge=1)] | Annotated[float, Meta(ge=1)]
PositiveInt = Annotated[int, Meta(ge=1)]
TopK = Annotated[int, Meta(ge=1, le=100)]
HTTPStatus = Annotated[int, Meta(ge=100, le=599)]
FallbackStatus = Annotated[int, Meta(ge=400, le=599)]
Stop = Union[str, Annotated[list[str], Meta(max_length=4)]]  # noqa: UP007
#: ``str``, ``list[str]``, ``list[int]`` or ``list[list[int]]``; the element kinds
#: cannot be mixed, which :func:`orq_async._codec.build_request` checks.
Prompt = Union[str, list[Union[str, int, list[int]]]]  # noqa: UP007


class RequestStruct(
    msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    """Base of request structs: strict keys, unset fields left off the wire."""


class ResponseStruct(msgspec.Struct, kw_only=True):
    """Base of response structs: unknown fields are ignored."""


# --- request: nested configuration -------------------------------------------


class Retry(RequestStruct):
    """Gateway-side retry of provider calls (executed by the Orq server)."""

    count: RetryCount | UnsetType = UNSET
    on_codes: Annotated[list[HTTPStatus], Meta(min_length=1)] | UnsetType = UNSET


class Cache(RequestStruct):
    """Gateway-side response cache."""

    type: Literal["exact_match"]
    ttl: CacheTTL | UnsetType = UNSET


class LoadBalancerModel(RequestStruct):
    model: str
    weight: Weight | UnsetType = UNSET


class LoadBalancer(RequestStruct):
    """Gateway-side weighted load balancing across models."""

    type: Literal["weight_based"]
    models: list[LoadBalancerModel]


class Timeout(RequestStruct):
    """Gateway-side per-call timeout, in milliseconds."""

    call_timeout: AtLeastOne


class Fallback(RequestStruct):
    model: str


class ThinkingDisabled(RequestStruct, tag_field="type", tag="disabled"):
    pass


class ThinkingEnabled(RequestStruct, tag_field="type", tag="enabled"):
    budget_tokens: PositiveInt
    thinking_level: Literal["minimal", "low", "medium", "high"] | UnsetType = UNSET


class ThinkingAdaptive(RequestStruct, tag_field="type", tag="adaptive"):
    pass


Thinking = Union[ThinkingDisabled, ThinkingEnabled, ThinkingAdaptive]  # noqa: UP007
"""The ``thinking`` setting: one of the three, told apart by ``type``."""


class PiiRedactionPlugin(RequestStruct, tag_field="id", tag="pii_redaction"):
    language: str | UnsetType = UNSET
    regions: list[str] | UnsetType = UNSET
    entities: list[str] | UnsetType = UNSET
    entity_thresholds: dict[str, UnitInterval] | UnsetType = UNSET
    threshold: UnitInterval | UnsetType = UNSET
    on_failure: Literal["block", "passthrough"] | UnsetType = UNSET


class PromptReference(RequestStruct):
    id: str
    version: Literal["latest"]


class Identity(RequestStruct):
    id: str
    display_name: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    metadata: list[dict[str, Any]] | UnsetType = UNSET
    logo_url: str | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET


Contact = Identity


class Thread(RequestStruct):
    id: str
    tags: list[str] | UnsetType = UNSET


class RerankConfig(RequestStruct):
    model: str
    threshold: UnitInterval | UnsetType = UNSET
    top_k: TopK | UnsetType = UNSET


class SearchOptions(RequestStruct):
    include_vectors: bool | UnsetType = UNSET
    include_metadata: bool | UnsetType = UNSET
    include_scores: bool | UnsetType = UNSET


class AgenticRagConfig(RequestStruct):
    model: str


class KnowledgeBase(RequestStruct):
    knowledge_id: str
    top_k: TopK | None | UnsetType = UNSET
    threshold: UnitInterval | None | UnsetType = UNSET
    search_type: (
        Literal["vector_search", "keyword_search", "hybrid_search"] | None | UnsetType
    ) = UNSET
    filter_by: dict[str, Any] | UnsetType = UNSET
    search_options: SearchOptions | UnsetType = UNSET
    rerank_config: RerankConfig | UnsetType = UNSET
    agentic_rag_config: AgenticRagConfig | UnsetType = UNSET
    query: str | UnsetType = UNSET


class OrqConfig(RequestStruct):
    """The deprecated ``orq`` container."""

    name: str | UnsetType = UNSET
    retry: Retry | UnsetType = UNSET
    fallback_on_codes: (
        Annotated[list[FallbackStatus], Meta(max_length=20)] | UnsetType
    ) = UNSET
    fallbacks: list[Fallback] | UnsetType = UNSET
    prompt: PromptReference | UnsetType = UNSET
    identity: Identity | UnsetType = UNSET
    contact: Identity | UnsetType = UNSET
    thread: Thread | UnsetType = UNSET
    inputs: dict[str, Any] | list[dict[str, Any]] | UnsetType = UNSET
    cache: Cache | UnsetType = UNSET
    knowledge_bases: list[KnowledgeBase] | UnsetType = UNSET
    load_balancer: LoadBalancer | UnsetType = UNSET
    timeout: Timeout | UnsetType = UNSET


class CompletionRequest(RequestStruct):
    """The request body. Field order is the schema's declaration order."""

    model: Annotated[str, Meta(min_length=1)]
    prompt: Prompt
    echo: bool | None | UnsetType = UNSET
    frequency_penalty: Penalty | None | UnsetType = UNSET
    max_tokens: PositiveInt | None | UnsetType = UNSET
    presence_penalty: Penalty | None | UnsetType = UNSET
    seed: int | None | UnsetType = UNSET
    stop: Stop | None | UnsetType = UNSET
    temperature: Temperature | None | UnsetType = UNSET
    top_p: TopP | None | UnsetType = UNSET
    n: PositiveInt | None | UnsetType = UNSET
    user: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    fallback_on_codes: (
        Annotated[list[FallbackStatus], Meta(max_length=20)] | UnsetType
    ) = UNSET
    fallbacks: list[Fallback] | UnsetType = UNSET
    retry: Retry | UnsetType = UNSET
    cache: Cache | UnsetType = UNSET
    load_balancer: LoadBalancer | UnsetType = UNSET
    timeout: Timeout | UnsetType = UNSET
    thinking: Thinking | None | UnsetType = UNSET
    plugins: list[PiiRedactionPlugin] | UnsetType = UNSET
    orq: OrqConfig | UnsetType = UNSET
    stream: bool | UnsetType = UNSET


# --- responses ----------------------------------------------------------------


#: A count or index in a response: an int, or the float a server sent
#: (``4.5``, ``1.7e9``), kept rather than losing the whole response over it.
Number: TypeAlias = int | float


class CompletionChoice(ResponseStruct, gc=False):
    text: str = ""
    index: Number = 0
    #: ``"stop"``, ``"length"``, ..., ``None`` mid-stream, or a value we don't know.
    finish_reason: str | None = None


class PromptTokensDetails(ResponseStruct, gc=False):
    cached_tokens: Number | None = None
    cache_creation_tokens: Number | None = None
    audio_tokens: Number | None = None


class CompletionTokensDetails(ResponseStruct, gc=False):
    reasoning_tokens: Number | None = None
    accepted_prediction_tokens: Number | None = None
    rejected_prediction_tokens: Number | None = None
    audio_tokens: Number | None = None


class Usage(ResponseStruct):
    prompt_tokens: Number = 0
    completion_tokens: Number = 0
    total_tokens: Number = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class _CompletionObject(ResponseStruct):
    """The ``text_completion`` object: a whole completion and a chunk alike."""

    id: str
    choices: list[CompletionChoice]
    object: str = "text_completion"
    created: int | float | str | None = None
    model: str = ""
    system_fingerprint: str | None = None
    usage: Usage | None = None


class Completion(_CompletionObject):
    """A whole (non-streamed) completion."""


class CompletionChunk(_CompletionObject):
    """One streamed piece of a completion (the SSE ``data`` of one event)."""

    @property
    def data(self) -> CompletionChunk:
        """The chunk itself, where the official SDK's stream events keep it.

        Code written for that SDK (``event.data.choices[0].text``) runs unchanged.
        """
        return self


class ErrorDetail(ResponseStruct):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class ErrorBody(ResponseStruct):
    """``{"error": {...}}``, the body of an error response or in-band error."""

    error: ErrorDetail
