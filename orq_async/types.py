"""The wire types: what the Orq router receives and sends, as msgspec structs.

Requests (``CompletionRequest``, ``ChatCompletionRequest`` with its messages,
content parts and tools, and the gateway settings nested in both, such as
``Retry``, ``Cache`` and ``OrqConfig``) forbid unknown fields, so a typo is an
error before any network I/O. Responses (``Completion``, ``CompletionChunk``,
``ChatCompletion``, ``ChatCompletionChunk``, ``Usage``, ``ErrorBody``, ...) ignore
fields they do not know. Field names are the wire names.

The package root re-exports the completions types and the main chat ones too
(``from orq_async import Completion, ChatCompletion``);
this module is where they all live, for type annotations and for building
request parts yourself:

    from orq_async.types import CompletionChunk, Retry

    retry = Retry(count=2, on_codes=[429, 503])
"""

from __future__ import annotations

from ._chat_wire import AssistantMessage as AssistantMessage
from ._chat_wire import AssistantPart as AssistantPart
from ._chat_wire import AssistantToolCall as AssistantToolCall
from ._chat_wire import Audio as Audio
from ._chat_wire import AudioPart as AudioPart
from ._chat_wire import AudioReference as AudioReference
from ._chat_wire import CacheControl as CacheControl
from ._chat_wire import ChatChoice as ChatChoice
from ._chat_wire import ChatCompletion as ChatCompletion
from ._chat_wire import ChatCompletionChunk as ChatCompletionChunk
from ._chat_wire import ChatCompletionRequest as ChatCompletionRequest
from ._chat_wire import ChatMessage as ChatMessage
from ._chat_wire import ChatPlugin as ChatPlugin
from ._chat_wire import ChunkChoice as ChunkChoice
from ._chat_wire import Delta as Delta
from ._chat_wire import DeveloperMessage as DeveloperMessage
from ._chat_wire import ExtraContent as ExtraContent
from ._chat_wire import File as File
from ._chat_wire import FilePart as FilePart
from ._chat_wire import FunctionCall as FunctionCall
from ._chat_wire import FunctionDefinition as FunctionDefinition
from ._chat_wire import FunctionDelta as FunctionDelta
from ._chat_wire import FunctionOut as FunctionOut
from ._chat_wire import GoogleExtra as GoogleExtra
from ._chat_wire import Guardrail as Guardrail
from ._chat_wire import ImagePart as ImagePart
from ._chat_wire import ImageURL as ImageURL
from ._chat_wire import InputAudio as InputAudio
from ._chat_wire import JSONSchema as JSONSchema
from ._chat_wire import NamedFunction as NamedFunction
from ._chat_wire import NamedToolChoice as NamedToolChoice
from ._chat_wire import ReasoningEffort as ReasoningEffort
from ._chat_wire import ReasoningPart as ReasoningPart
from ._chat_wire import RedactedReasoningPart as RedactedReasoningPart
from ._chat_wire import RefusalPart as RefusalPart
from ._chat_wire import ResponseFormat as ResponseFormat
from ._chat_wire import ResponseFormatJSONObject as ResponseFormatJSONObject
from ._chat_wire import ResponseFormatJSONSchema as ResponseFormatJSONSchema
from ._chat_wire import ResponseFormatText as ResponseFormatText
from ._chat_wire import ResponseHealingPlugin as ResponseHealingPlugin
from ._chat_wire import ResponseMessage as ResponseMessage
from ._chat_wire import StreamOptions as StreamOptions
from ._chat_wire import SystemMessage as SystemMessage
from ._chat_wire import TextPart as TextPart
from ._chat_wire import Tool as Tool
from ._chat_wire import ToolCall as ToolCall
from ._chat_wire import ToolCallDelta as ToolCallDelta
from ._chat_wire import ToolChoice as ToolChoice
from ._chat_wire import ToolMessage as ToolMessage
from ._chat_wire import TraceScrubbingPlugin as TraceScrubbingPlugin
from ._chat_wire import UserMessage as UserMessage
from ._chat_wire import UserPart as UserPart
from ._public import publish as _publish
from ._wire import AgenticRagConfig as AgenticRagConfig
from ._wire import Cache as Cache
from ._wire import Completion as Completion
from ._wire import CompletionChoice as CompletionChoice
from ._wire import CompletionChunk as CompletionChunk
from ._wire import CompletionRequest as CompletionRequest
from ._wire import CompletionTokensDetails as CompletionTokensDetails
from ._wire import ErrorBody as ErrorBody
from ._wire import ErrorDetail as ErrorDetail
from ._wire import Fallback as Fallback
from ._wire import Identity as Identity
from ._wire import KnowledgeBase as KnowledgeBase
from ._wire import LoadBalancer as LoadBalancer
from ._wire import LoadBalancerModel as LoadBalancerModel
from ._wire import OrqConfig as OrqConfig
from ._wire import PiiRedactionPlugin as PiiRedactionPlugin
from ._wire import PromptReference as PromptReference
from ._wire import PromptTokensDetails as PromptTokensDetails
from ._wire import RerankConfig as RerankConfig
from ._wire import Retry as Retry
from ._wire import SearchOptions as SearchOptions
from ._wire import Thinking as Thinking
from ._wire import ThinkingAdaptive as ThinkingAdaptive
from ._wire import ThinkingDisabled as ThinkingDisabled
from ._wire import ThinkingEnabled as ThinkingEnabled
from ._wire import Thread as Thread
from ._wire import Timeout as Timeout
from ._wire import Usage as Usage

__all__ = (
    "AgenticRagConfig",
    "AssistantMessage",
    "AssistantPart",
    "AssistantToolCall",
    "Audio",
    "AudioPart",
    "AudioReference",
    "Cache",
    "CacheControl",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessage",
    "ChatPlugin",
    "ChunkChoice",
    "Completion",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionRequest",
    "CompletionTokensDetails",
    "Delta",
    "DeveloperMessage",
    "ErrorBody",
    "ErrorDetail",
    "ExtraContent",
    "Fallback",
    "File",
    "FilePart",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionDelta",
    "FunctionOut",
    "GoogleExtra",
    "Guardrail",
    "Identity",
    "ImagePart",
    "ImageURL",
    "InputAudio",
    "JSONSchema",
    "KnowledgeBase",
    "LoadBalancer",
    "LoadBalancerModel",
    "NamedFunction",
    "NamedToolChoice",
    "OrqConfig",
    "PiiRedactionPlugin",
    "PromptReference",
    "PromptTokensDetails",
    "ReasoningEffort",
    "ReasoningPart",
    "RedactedReasoningPart",
    "RefusalPart",
    "RerankConfig",
    "ResponseFormat",
    "ResponseFormatJSONObject",
    "ResponseFormatJSONSchema",
    "ResponseFormatText",
    "ResponseHealingPlugin",
    "ResponseMessage",
    "Retry",
    "SearchOptions",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "Thinking",
    "ThinkingAdaptive",
    "ThinkingDisabled",
    "ThinkingEnabled",
    "Thread",
    "Timeout",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolMessage",
    "TraceScrubbingPlugin",
    "Usage",
    "UserMessage",
    "UserPart",
)

_publish(__name__, [globals()[name] for name in __all__])
