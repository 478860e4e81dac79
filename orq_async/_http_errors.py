"""The typed errors for an HTTP answer that is not a usable result.

A non-2xx status becomes the :class:`APIError` subclass for it (RFC 9110 §15),
with the server's error envelope when it sent one; a body of an unexpected
media type becomes an :class:`UnexpectedContentTypeError` with an excerpt.
"""

from __future__ import annotations

import http

from ._codec import parse_error_body
from ._exceptions import (
    APIError,
    RateLimitError,
    UnexpectedContentTypeError,
    excerpt,
    status_error_class,
)
from ._retry import parse_retry_after
from ._transport import HTTPResponse

__all__ = ["api_error_from_response", "content_type_error"]


def api_error_from_response(
    resp: HTTPResponse,
    body: bytes,
    *,
    attempts: int,
    now: float,
    secret: bytes = b"",
) -> APIError:
    """The typed :class:`APIError` for a non-2xx response whose body was read.

    ``secret`` (the API key) is masked wherever a server echoed it back.
    """
    if secret and secret in body:
        body = body.replace(secret, b"[redacted]")
    status = resp.status
    text = body.decode("utf-8", "replace")
    envelope = parse_error_body(body) if body else None
    kwargs: dict[str, object] = {}
    if envelope is not None:
        detail = envelope.error
        message = detail.message or _reason(status)
        kwargs.update(
            type=detail.type,
            param=detail.param,
            code=None if detail.code is None else str(detail.code),
        )
    elif not body.strip():
        message = f"{_reason(status)} (empty body)"
    else:
        # str(APIError) puts "HTTP <status>: " in front; say the status once.
        ctype = resp.content_type or "no content type"
        message = f"{excerpt(text)} ({ctype} body)"
    klass = status_error_class(status)
    common = dict(
        status_code=status,
        body=text,
        headers=dict(resp.headers),
        request_id=resp.request_id,
        attempts=attempts,
        **kwargs,
    )
    if klass is RateLimitError:
        return RateLimitError(
            message,
            retry_after=parse_retry_after(resp.headers, now),
            **common,
        )
    return klass(message, **common)  # type: ignore[arg-type]


def _reason(status: int) -> str:
    """The status's reason phrase (RFC 9110 §15), e.g. ``Unauthorized``."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "error"


def content_type_error(
    response: HTTPResponse, body: bytes
) -> UnexpectedContentTypeError:
    """The error for a 2xx answer that is neither JSON nor an event stream."""
    ctype = response.content_type or "no content type"
    return UnexpectedContentTypeError(
        "expected application/json or text/event-stream, got "
        f"{ctype!r} (HTTP {response.status}): "
        f"{excerpt(body)!r}",
        status_code=response.status,
        content_type=response.content_type,
        body_excerpt=excerpt(body),
        request_id=response.request_id,
    )
