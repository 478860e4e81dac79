"""Request building and response decoding: pure, synchronous, no I/O.

Encoders and decoders are module-level singletons, created once at import
(msgspec's own performance advice). The only JSON library used is msgspec.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ._exceptions import (
    InvalidParameterError,
    InvalidParameterTypeError,
    ResponseDecodeError,
    excerpt,
)
from ._wire import Completion, CompletionChunk, CompletionRequest, ErrorBody

__all__ = [
    "CHUNK_DECODER",
    "HEADER_TOKEN",
    "COMPLETION_DECODER",
    "ERROR_DECODER",
    "build_request",
    "check_header_value",
    "decode_completion",
    "parse_error_body",
]

ENCODER = msgspec.json.Encoder()
# strict=False: accept ``0.0`` for an int field such as ``index`` (the SDK's own
# schema calls these "number"), and ``"1"``-style numbers; leniency is the goal.
COMPLETION_DECODER = msgspec.json.Decoder(Completion, strict=False)
CHUNK_DECODER = msgspec.json.Decoder(CompletionChunk, strict=False)
ERROR_DECODER = msgspec.json.Decoder(ErrorBody, strict=False)

# "Expected `int` <= 2 - at `$.temperature`" -> "temperature"
_PATH = re.compile(r" - at (?:`key` in )?`\$\.?(?P<path>[^`]*)`$")
_NULLABLE = frozenset(
    (
        "echo",
        "frequency_penalty",
        "max_tokens",
        "presence_penalty",
        "seed",
        "stop",
        "temperature",
        "top_p",
        "n",
        "thinking",
    )
)


_SCALARS = frozenset((str, int, float, bool, type(None)))


# RFC 9110 §5.5: a field value holds no control characters but HTAB; a field
# name is a token. aiohttp would raise a raw ValueError for some of these.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
HEADER_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_header_value(field: str, value: str, header: str = "") -> None:
    """Raise :class:`InvalidParameterError` if ``value`` cannot be sent as a header.

    The message never repeats the value (it may be a secret).
    """
    if _BAD_VALUE.search(value):
        where = f"header {header!r} " if header else ""
        raise InvalidParameterError(
            field, f"{where}contains a control character (CR, LF, NUL...)"
        )


def _plain(value: Any) -> Any:
    """Turn typed structs (anywhere inside ``value``) into plain builtins.

    Dict and struct input then take the same validation path, so they give the
    same bytes and the same errors.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if isinstance(value, str):  # a str subclass: send it as the str it is
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _check_prompt(prompt: Any) -> None:
    if isinstance(prompt, str):
        return
    if not isinstance(prompt, list | tuple):
        raise InvalidParameterTypeError(
            "prompt",
            f"expected str, list[str], list[int] or list[list[int]], "
            f"got {type(prompt).__name__}",
        )
    if not prompt:
        raise InvalidParameterError("prompt", "must not be empty")
    kinds = {
        "list[int]" if isinstance(p, list | tuple) else type(p).__name__ for p in prompt
    }
    if len(kinds) > 1 or not kinds <= {"str", "int", "list[int]"}:
        raise InvalidParameterTypeError(
            "prompt",
            "a list prompt must hold only str, only int, or only lists of int; "
            f"got {', '.join(sorted(kinds))}",
        )
    for p in prompt:
        if isinstance(p, bool) or (
            isinstance(p, list | tuple) and any(isinstance(t, bool) for t in p)
        ):
            raise InvalidParameterTypeError("prompt", "token ids must be int")


def build_request(params: Mapping[str, Any]) -> bytes:
    """Validate ``params`` (only the fields the caller set) and encode the body.

    :raises InvalidParameterTypeError: a value has the wrong type.
    :raises InvalidParameterError: a value is out of range, a required field is
        missing, or a dict holds an unknown key.
    """
    if params.get("model") is None:
        raise InvalidParameterError("model", "is required")
    prompt = params.get("prompt")
    if type(prompt) is not str:
        if prompt is None:
            raise InvalidParameterError("prompt", "is required")
        _check_prompt(prompt)
    body: dict[str, Any] = {}
    for key, value in params.items():
        if type(value) in _SCALARS:  # the usual value: nothing to convert
            if value is None and key not in _NULLABLE:
                # Non-nullable optional field explicitly None: leave it off, as
                # the official SDK does.
                continue
            body[key] = value
        else:
            body[key] = _plain(value)
    if "orq" in body:
        warnings.warn(
            "the 'orq' parameter is deprecated by Orq; use the top-level fields",
            DeprecationWarning,
            stacklevel=3,  # build_request <- create() <- the caller's line
        )
    if "fallback_on_codes" in body or "orq" in body:
        _check_unique_codes(body)
    try:
        request = msgspec.convert(body, CompletionRequest)
    except msgspec.ValidationError as exc:
        raise _parameter_error(str(exc)) from None
    try:
        return ENCODER.encode(request)
    except (TypeError, OverflowError, ValueError) as exc:
        # An object msgspec cannot encode inside a free-form field (orq.inputs,
        # filter_by, metadata), or an integer past 64 bits.
        raise InvalidParameterTypeError("<body>", f"cannot be encoded: {exc}") from None


def _check_unique_codes(body: Mapping[str, Any]) -> None:
    """``fallback_on_codes`` holds unique codes (schema: ``uniqueItems``)."""
    orq = body.get("orq")
    for where, codes in (
        ("fallback_on_codes", body.get("fallback_on_codes")),
        (
            "orq.fallback_on_codes",
            orq.get("fallback_on_codes") if isinstance(orq, dict) else None,
        ),
    ):
        if isinstance(codes, list) and len(set(map(repr, codes))) != len(codes):
            raise InvalidParameterError(where, "status codes must be unique")


def _parameter_error(message: str) -> InvalidParameterError:
    match = _PATH.search(message)
    field = match.group("path") if match else ""
    problem = message[: match.start()] if match else message
    if problem.startswith("Object contains unknown field"):
        field = f"{field}.{problem.split('`')[1]}" if field else problem.split("`")[1]
    if not field:
        field = "<body>"
    if ", got `" in problem:
        return InvalidParameterTypeError(field, problem)
    return InvalidParameterError(field, problem)


def _unchanged(data: bytes) -> bytes:
    return data


def decode_completion(
    body: bytes,
    request_id: str | None,
    *,
    scrub: Callable[[bytes], bytes] = _unchanged,
) -> Completion:
    """Decode a 200 JSON body.

    :param scrub: masks secrets in the body before any of it goes into an error.
    :raises ResponseDecodeError: the body is not a completion object.
    """
    try:
        return COMPLETION_DECODER.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        shown = scrub(body)
        raise ResponseDecodeError(
            f"invalid completion response: {exc}; body starts {excerpt(shown)!r}",
            raw=shown,
            request_id=request_id,
        ) from None


def parse_error_body(body: bytes) -> ErrorBody | None:
    """The ``{"error": {...}}`` envelope, or None when the body is not one."""
    try:
        return ERROR_DECODER.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a string.
        return None
