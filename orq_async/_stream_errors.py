"""The errors a stream's events can carry: in-band ``error`` events and data
that is not a valid chunk (often an error object in an unexpected shape)."""

from __future__ import annotations

from typing import Final

import msgspec

from ._codec import ERROR_DECODER
from ._exceptions import OrqError, StreamAPIError, StreamDecodeError, excerpt

__all__ = ["DECODE_ERRORS", "in_band_error", "undecodable_error"]

#: What msgspec raises for undecodable data: invalid UTF-8 inside a JSON string
#: is a plain ``UnicodeDecodeError``, not a ``msgspec.DecodeError``.
DECODE_ERRORS: Final = (msgspec.DecodeError, UnicodeDecodeError)


def in_band_error(data: bytes, request_id: str | None, chunks: int) -> StreamAPIError:
    """The error an ``event: error`` with (scrubbed) ``data`` reports, after
    ``chunks`` chunks reached the caller (retryable before the first)."""
    try:
        detail = ERROR_DECODER.decode(data).error
        message, type_, code, param = (
            detail.message,
            detail.type,
            detail.code,
            detail.param,
        )
    except DECODE_ERRORS:
        message, type_, code, param = excerpt(data), None, None, None
    return StreamAPIError(
        message or "the server reported an error",
        type=type_,
        code=None if code is None else str(code),
        param=param,
        request_id=request_id,
        retryable=chunks == 0,
        chunks_delivered=chunks,
    )


def undecodable_error(
    data: bytes, exc: Exception, request_id: str | None, chunks: int
) -> OrqError:
    """The error for a message whose (scrubbed) ``data`` is not a valid chunk:
    the server's error if it is an error object, else a decode error."""
    try:
        detail = ERROR_DECODER.decode(data).error
    except DECODE_ERRORS:
        loose = _loose_error(data)
        if loose is None:
            return StreamDecodeError(
                f"event {chunks} is not a valid chunk ({exc}): {excerpt(data)!r}",
                raw=data,
                request_id=request_id,
                event_index=chunks,
            )
        return StreamAPIError(
            loose,
            request_id=request_id,
            retryable=chunks == 0,
            chunks_delivered=chunks,
        )
    return StreamAPIError(
        detail.message or "the server reported an error",
        type=detail.type,
        code=None if detail.code is None else str(detail.code),
        param=detail.param,
        request_id=request_id,
        retryable=chunks == 0,
        chunks_delivered=chunks,
    )


def _loose_error(data: bytes) -> str | None:
    """The message of an ``{"error": ...}`` payload not in the usual shape
    (``{"error": "rate limited"}``, a non-string message), else None."""
    try:
        payload = msgspec.json.decode(data)
    except DECODE_ERRORS:
        return None
    if not isinstance(payload, dict) or "error" not in payload:
        return None
    error = payload["error"]
    if isinstance(error, str):
        return error or "the server reported an error"
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"]) or "the server reported an error"
    return excerpt(msgspec.json.encode(error))
