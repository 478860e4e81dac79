"""orq_async: an asyncio-native client for the Orq AI router completions API.

>>> async with AsyncOrq() as orq:
...     stream = await orq.router.completions.create(
...         model="openai/gpt-3.5-turbo-instruct", prompt="Hi", stream=True
...     )
...     async with stream:
...         async for chunk in stream:
...             print(chunk.choices[0].text, end="")
"""

from __future__ import annotations

from ._chat_codec import ChatCompletionAccumulator as ChatCompletionAccumulator
from ._chat_params import ChatCompletionCreateParams as ChatCompletionCreateParams
from ._chat_params import ChatCompletionParams as ChatCompletionParams
from ._chat_stream import ChatStream as ChatStream
from ._client import AsyncOrq as AsyncOrq
from ._client import ClientOptions as ClientOptions
from ._client import PoolStats as PoolStats
from ._config import PoolLimits as PoolLimits
from ._config import Timeouts as Timeouts
from ._exceptions import APIConnectionError as APIConnectionError
from ._exceptions import APIError as APIError
from ._exceptions import APITimeoutError as APITimeoutError
from ._exceptions import AuthenticationError as AuthenticationError
from ._exceptions import BadRequestError as BadRequestError
from ._exceptions import CertificateVerificationError as CertificateVerificationError
from ._exceptions import ClientClosedError as ClientClosedError
from ._exceptions import ConflictError as ConflictError
from ._exceptions import ConnectTimeoutError as ConnectTimeoutError
from ._exceptions import DeadlineExceededError as DeadlineExceededError
from ._exceptions import EventTooLargeError as EventTooLargeError
from ._exceptions import FirstByteTimeoutError as FirstByteTimeoutError
from ._exceptions import IncompleteStreamError as IncompleteStreamError
from ._exceptions import InternalServerError as InternalServerError
from ._exceptions import InvalidParameterError as InvalidParameterError
from ._exceptions import InvalidParameterTypeError as InvalidParameterTypeError
from ._exceptions import NotFoundError as NotFoundError
from ._exceptions import OrqError as OrqError
from ._exceptions import PermissionDeniedError as PermissionDeniedError
from ._exceptions import PoolTimeoutError as PoolTimeoutError
from ._exceptions import ProtocolError as ProtocolError
from ._exceptions import ProxyError as ProxyError
from ._exceptions import RateLimitError as RateLimitError
from ._exceptions import RequestTimeoutError as RequestTimeoutError
from ._exceptions import ResponseDecodeError as ResponseDecodeError
from ._exceptions import ResponseTooLargeError as ResponseTooLargeError
from ._exceptions import SSEProtocolError as SSEProtocolError
from ._exceptions import StreamAPIError as StreamAPIError
from ._exceptions import StreamConnectionError as StreamConnectionError
from ._exceptions import StreamConsumedError as StreamConsumedError
from ._exceptions import StreamDecodeError as StreamDecodeError
from ._exceptions import StreamIdleTimeoutError as StreamIdleTimeoutError
from ._exceptions import ToolArgumentsError as ToolArgumentsError
from ._exceptions import UnexpectedContentTypeError as UnexpectedContentTypeError
from ._exceptions import UnprocessableEntityError as UnprocessableEntityError
from ._exceptions import UsageError as UsageError
from ._hooks import ChunkEvent as ChunkEvent
from ._hooks import Hooks as Hooks
from ._hooks import RequestEvent as RequestEvent
from ._hooks import ResponseEvent as ResponseEvent
from ._hooks import RetryEvent as RetryEvent
from ._hooks import StreamMetrics as StreamMetrics
from ._public import publish as _publish
from ._resources import CompletionCreateParams as CompletionCreateParams
from ._resources import CompletionParams as CompletionParams
from ._retry import BackoffStrategy as BackoffStrategy
from ._retry import RetryConfig as RetryConfig
from ._retry import RetryPolicy as RetryPolicy
from ._sse import ServerSentEvent as ServerSentEvent
from ._sse import SSEDecoder as SSEDecoder
from ._streaming import EventStream as EventStream
from ._sync import Orq as Orq
from ._sync import Stream as Stream
from ._sync import SyncChatStream as SyncChatStream
from ._telemetry import Telemetry as Telemetry
from ._types import NOT_GIVEN as NOT_GIVEN
from ._types import NotGiven as NotGiven
from ._version import __version__ as __version__
from .types import AgenticRagConfig as AgenticRagConfig
from .types import Cache as Cache
from .types import ChatChoice as ChatChoice
from .types import ChatCompletion as ChatCompletion
from .types import ChatCompletionChunk as ChatCompletionChunk
from .types import ChunkChoice as ChunkChoice
from .types import Completion as Completion
from .types import CompletionChoice as CompletionChoice
from .types import CompletionChunk as CompletionChunk
from .types import CompletionRequest as CompletionRequest
from .types import CompletionTokensDetails as CompletionTokensDetails
from .types import Delta as Delta
from .types import ErrorBody as ErrorBody
from .types import ErrorDetail as ErrorDetail
from .types import Fallback as Fallback
from .types import Identity as Identity
from .types import KnowledgeBase as KnowledgeBase
from .types import LoadBalancer as LoadBalancer
from .types import LoadBalancerModel as LoadBalancerModel
from .types import OrqConfig as OrqConfig
from .types import PiiRedactionPlugin as PiiRedactionPlugin
from .types import PromptReference as PromptReference
from .types import PromptTokensDetails as PromptTokensDetails
from .types import RerankConfig as RerankConfig
from .types import ResponseMessage as ResponseMessage
from .types import Retry as Retry
from .types import SearchOptions as SearchOptions
from .types import ThinkingAdaptive as ThinkingAdaptive
from .types import ThinkingDisabled as ThinkingDisabled
from .types import ThinkingEnabled as ThinkingEnabled
from .types import Thread as Thread
from .types import Timeout as Timeout
from .types import ToolCall as ToolCall
from .types import ToolCallDelta as ToolCallDelta
from .types import Usage as Usage

__all__ = (
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AgenticRagConfig",
    "AsyncOrq",
    "AuthenticationError",
    "BackoffStrategy",
    "BadRequestError",
    "Cache",
    "CertificateVerificationError",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionAccumulator",
    "ChatCompletionChunk",
    "ChatCompletionCreateParams",
    "ChatCompletionParams",
    "ChatStream",
    "ChunkChoice",
    "ChunkEvent",
    "ClientClosedError",
    "ClientOptions",
    "Completion",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionCreateParams",
    "CompletionParams",
    "CompletionRequest",
    "CompletionTokensDetails",
    "ConflictError",
    "ConnectTimeoutError",
    "DeadlineExceededError",
    "Delta",
    "ErrorBody",
    "ErrorDetail",
    "EventStream",
    "EventTooLargeError",
    "Fallback",
    "FirstByteTimeoutError",
    "Hooks",
    "Identity",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidParameterError",
    "InvalidParameterTypeError",
    "KnowledgeBase",
    "LoadBalancer",
    "LoadBalancerModel",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "Orq",
    "OrqConfig",
    "OrqError",
    "PermissionDeniedError",
    "PiiRedactionPlugin",
    "PoolLimits",
    "PoolStats",
    "PoolTimeoutError",
    "PromptReference",
    "PromptTokensDetails",
    "ProtocolError",
    "ProxyError",
    "RateLimitError",
    "RequestEvent",
    "RequestTimeoutError",
    "RerankConfig",
    "ResponseDecodeError",
    "ResponseEvent",
    "ResponseMessage",
    "ResponseTooLargeError",
    "Retry",
    "RetryConfig",
    "RetryEvent",
    "RetryPolicy",
    "SSEDecoder",
    "SSEProtocolError",
    "SearchOptions",
    "ServerSentEvent",
    "Stream",
    "StreamAPIError",
    "StreamConnectionError",
    "StreamConsumedError",
    "StreamDecodeError",
    "StreamIdleTimeoutError",
    "StreamMetrics",
    "SyncChatStream",
    "Telemetry",
    "ThinkingAdaptive",
    "ThinkingDisabled",
    "ThinkingEnabled",
    "Thread",
    "Timeout",
    "Timeouts",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallDelta",
    "UnexpectedContentTypeError",
    "UnprocessableEntityError",
    "Usage",
    "UsageError",
    "__version__",
)

_publish(__name__, [globals()[name] for name in __all__])
