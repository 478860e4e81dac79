"""The wire types: what the Orq router receives and sends, as msgspec structs.

Requests (``CompletionRequest`` and the gateway settings nested in it, such as
``Retry``, ``Cache`` and ``OrqConfig``) forbid unknown fields, so a typo is an
error before any network I/O. Responses (``Completion``, ``CompletionChunk``,
``Usage``, ``ErrorBody``, ...) ignore fields they do not know. Field names are the
wire names.

The package root re-exports these too (``from orq_async import Completion``);
this module is where they all live, for type annotations and for building
request parts yourself:

    from orq_async.types import CompletionChunk, Retry

    retry = Retry(count=2, on_codes=[429, 503])
"""

from __future__ import annotations

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
    "Cache",
    "Completion",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionRequest",
    "CompletionTokensDetails",
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
    "Retry",
    "SearchOptions",
    "Thinking",
    "ThinkingAdaptive",
    "ThinkingDisabled",
    "ThinkingEnabled",
    "Thread",
    "Timeout",
    "Usage",
)

_publish(__name__, [globals()[name] for name in __all__])
