"""The whole orq_async exception tree.

Everything the client raises on purpose derives from :class:`OrqError`::

    OrqError
    ├── APIError                      non-2xx HTTP response
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── RequestTimeoutError       408
    │   ├── ConflictError             409
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429 (.retry_after)
    │   └── InternalServerError       >= 500
    ├── APIConnectionError            no usable response (network failure)
    │   ├── StreamConnectionError     the connection dropped mid-stream
    │   ├── ProxyError                the proxy refused or could not be reached
    │   ├── CertificateVerificationError  the server's TLS certificate failed
    │   └── APITimeoutError           (also a builtin TimeoutError)
    │       ├── ConnectTimeoutError
    │       ├── PoolTimeoutError
    │       ├── FirstByteTimeoutError
    │       ├── StreamIdleTimeoutError
    │       └── DeadlineExceededError
    ├── ProtocolError                 the server's bytes were wrong
    │   ├── SSEProtocolError
    │   │   └── EventTooLargeError
    │   ├── UnexpectedContentTypeError
    │   ├── ResponseTooLargeError
    │   ├── ResponseDecodeError
    │   │   └── StreamDecodeError
    │   └── IncompleteStreamError     clean EOF before ``[DONE]``
    ├── StreamAPIError                in-band ``{"error": ...}`` or ``event: error``
    └── UsageError
        ├── InvalidParameterError     (also ValueError): bad arguments, no I/O done
        │   └── InvalidParameterTypeError  (also TypeError)
        ├── StreamConsumedError       (also RuntimeError)
        └── ClientClosedError         (also RuntimeError)

No message built here ever contains the API key: errors are built from status,
headers (never the request's) and the response body only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._chat_wire import ChatCompletion

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CertificateVerificationError",
    "ClientClosedError",
    "ConflictError",
    "ConnectTimeoutError",
    "DeadlineExceededError",
    "EventTooLargeError",
    "FirstByteTimeoutError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidParameterError",
    "InvalidParameterTypeError",
    "NotFoundError",
    "OrqError",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "ProtocolError",
    "ProxyError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "SSEProtocolError",
    "StreamAPIError",
    "StreamConnectionError",
    "StreamConsumedError",
    "StreamDecodeError",
    "StreamIdleTimeoutError",
    "ToolArgumentsError",
    "UnexpectedContentTypeError",
    "UnprocessableEntityError",
    "UsageError",
    "status_error_class",
]

#: Longest excerpt of a response body or event kept in an error message.
EXCERPT_LIMIT = 200


def excerpt(data: bytes | str, limit: int = EXCERPT_LIMIT) -> str:
    """A short, printable excerpt of ``data`` for error messages."""
    if isinstance(data, bytes):
        data = data[: limit * 4].decode("utf-8", "replace")
    if len(data) > limit:
        return data[:limit] + "…"
    return data


class Headers(Mapping[str, str]):
    """Read-only response headers, looked up case-insensitively (as HTTP says)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._items = {k.lower(): (k, v) for k, v in (headers or {}).items()}

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


class OrqError(Exception):
    """Base class of every error orq_async raises."""

    #: The server's request id (``x-request-id`` or similar), when known.
    request_id: str | None = None
    #: Whether trying the same call again may succeed.
    retryable: bool = False

    def __init__(
        self, message: str, *, request_id: str | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.retryable = retryable

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id: {self.request_id})"
        return self.message


class APIError(OrqError):
    """Raised when the server answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retryable: bool = False,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, request_id=request_id, retryable=retryable)
        self.status_code = status_code
        self.body = body
        self.headers: Mapping[str, str] = Headers(headers)
        self.type = type
        self.param = param
        self.code = code
        self.attempts = attempts

    def __str__(self) -> str:
        text = f"HTTP {self.status_code}: {self.message}"
        if self.type or self.code:
            text += f" (type={self.type!r}, code={self.code!r})"
        if self.request_id:
            text += f" (request id: {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class BadRequestError(APIError):
    """Raised on HTTP 400."""


class AuthenticationError(APIError):
    """Raised on HTTP 401."""


class PermissionDeniedError(APIError):
    """Raised on HTTP 403."""


class NotFoundError(APIError):
    """Raised on HTTP 404."""


class RequestTimeoutError(APIError):
    """Raised on HTTP 408: the gateway's own call timed out."""


class ConflictError(APIError):
    """Raised on HTTP 409."""


class UnprocessableEntityError(APIError):
    """Raised on HTTP 422."""


class RateLimitError(APIError):
    """Raised on HTTP 429."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        #: Seconds the server asked us to wait, when it said so.
        self.retry_after = retry_after


class InternalServerError(APIError):
    """Raised on HTTP 5xx."""


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIError]:
    """The :class:`APIError` subclass pinned to ``status``."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIError)


class APIConnectionError(OrqError):
    """Raised when no usable response came back: refused, reset, DNS, TLS, ..."""

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        request_id: str | None = None,
        retryable: bool = True,
        chunks_delivered: int = 0,
    ) -> None:
        super().__init__(message, request_id=request_id, retryable=retryable)
        #: How many chunks reached the caller before the failure.
        self.chunks_delivered = chunks_delivered


class StreamConnectionError(APIConnectionError):
    """Raised when the connection failed after the stream had started."""


class ProxyError(APIConnectionError):
    """Raised when the HTTP proxy could not be reached or refused the request."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message, request_id=request_id, retryable=retryable)
        #: The proxy's HTTP status (407, 502, ...); None when it was unreachable.
        self.status_code = status_code


class CertificateVerificationError(APIConnectionError):
    """Raised when the server's TLS certificate could not be verified."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id, retryable=False)
        #: The host whose certificate failed.
        self.host = host


class APITimeoutError(APIConnectionError, TimeoutError):
    """Raised when a time limit ran out."""


class ConnectTimeoutError(APITimeoutError):
    """Raised when no TCP/TLS connection was made within the connect limit."""


class PoolTimeoutError(APITimeoutError):
    """Raised when no pooled connection became free within the pool-acquire limit."""


class FirstByteTimeoutError(APITimeoutError):
    """Raised when the response headers did not arrive within the first-byte limit."""


class StreamIdleTimeoutError(APITimeoutError):
    """Raised when no data event arrived within the stream-idle limit."""


class DeadlineExceededError(APITimeoutError):
    """Raised when the call's overall deadline passed."""


class ProtocolError(OrqError):
    """Raised when the server's bytes do not follow the protocol."""


class SSEProtocolError(ProtocolError):
    """Raised when the event stream cannot be parsed."""


class EventTooLargeError(SSEProtocolError):
    """Raised when one event grew past the configured maximum size."""

    #: Events that completed in the same read before the oversized one.
    events: Sequence[object] = ()


class ResponseTooLargeError(ProtocolError):
    """Raised when a response body is larger than the client accepts."""


class UnexpectedContentTypeError(ProtocolError):
    """Raised when a 2xx response has a content type we cannot read."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        content_type: str,
        body_excerpt: str,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.content_type = content_type
        self.body_excerpt = body_excerpt


class ResponseDecodeError(ProtocolError):
    """Raised when a response body is not the JSON we expect."""

    def __init__(
        self, message: str, *, raw: bytes = b"", request_id: str | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        #: The offending bytes (at most a few hundred).
        self.raw: bytes = raw[: EXCERPT_LIMIT * 4]


class StreamDecodeError(ResponseDecodeError):
    """Raised when a stream event's data is not a valid completion chunk."""

    def __init__(
        self,
        message: str,
        *,
        raw: bytes = b"",
        request_id: str | None = None,
        event_index: int = 0,
    ) -> None:
        super().__init__(message, raw=raw, request_id=request_id)
        #: Zero-based index of the offending data event.
        self.event_index = event_index


class IncompleteStreamError(ProtocolError):
    """Raised when the stream ended cleanly before ``[DONE]`` or a finish_reason."""

    def __init__(
        self,
        message: str,
        *,
        chunks_received: int,
        partial_text: str = "",
        partial_completion: ChatCompletion | None = None,
        request_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, request_id=request_id, retryable=retryable)
        self.chunks_received = chunks_received
        self.partial_text = partial_text
        #: For a chat stream: everything assembled before the cut (tool-call
        #: arguments kept raw, unfinished choices with ``finish_reason`` None).
        self.partial_completion = partial_completion


class StreamAPIError(OrqError):
    """Raised when the server reported an error inside the event stream."""

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        chunks_delivered: int = 0,
    ) -> None:
        super().__init__(message, request_id=request_id, retryable=retryable)
        self.type = type
        self.code = code
        self.param = param
        self.chunks_delivered = chunks_delivered

    def __str__(self) -> str:
        text = f"stream error: {self.message}"
        if self.type or self.code:
            text += f" (type={self.type!r}, code={self.code!r})"
        if self.request_id:
            text += f" (request id: {self.request_id})"
        return text


class ToolArgumentsError(OrqError, ValueError):
    """Raised by ``ToolCall.parse_arguments()`` when the arguments are not a
    JSON object (cut short by ``finish_reason: "length"`` or a dropped stream,
    or simply invalid).

    :ivar raw: the arguments string exactly as received.
    :ivar tool_call_id: the call's ``id`` (``None`` if the server sent none).
    :ivar name: the function name (``None`` if the server sent none).
    """

    def __init__(
        self, message: str, *, raw: str, tool_call_id: str | None, name: str | None
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.tool_call_id = tool_call_id
        self.name = name


class UsageError(OrqError):
    """Raised when the client is used the wrong way."""


class InvalidParameterError(UsageError, ValueError):
    """Raised before any I/O when an argument is invalid; ``.field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid parameter {field!r}: {problem}")
        self.field = field


class InvalidParameterTypeError(InvalidParameterError, TypeError):
    """Raised before any I/O when an argument has the wrong type."""


class StreamConsumedError(UsageError, RuntimeError):
    """Raised when a stream is iterated again after it ended."""


class ClientClosedError(UsageError, RuntimeError):
    """Raised when a closed client, or a stream it closed, is used."""
