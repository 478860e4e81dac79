"""Request building and response decoding: pure, synchronous, no I/O.

Encoders and decoders are module-level singletons, created once at import
(msgspec's own performance advice). The only JSON library used is msgspec.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import re
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Union, cast

import msgspec
import msgspec.inspect as mi

from ._exceptions import (
    InvalidParameterError,
    InvalidParameterTypeError,
    ResponseDecodeError,
    excerpt,
)
from ._wire import (
    Completion,
    CompletionChoice,
    CompletionChunk,
    CompletionRequest,
    ErrorBody,
    Usage,
)

__all__ = [
    "CHUNK_DECODER",
    "assemble_completion",
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


#: Values msgspec.to_builtins would turn into strings (base64, ISO dates...):
#: kept as they are, so that validation judges what the caller gave.
_KEPT: Final = (
    bytes,
    bytearray,
    memoryview,
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
)


def _plain(value: Any) -> Any:
    """Turn typed structs and enum members (anywhere inside ``value``) into
    plain builtins.

    Dict and struct input then take the same validation path, so they give the
    same bytes and the same errors. An enum member goes on the wire as its
    value: ``str()`` of a ``(str, Enum)`` member would be ``"Model.GPT"``.

    msgspec walks the value in C: a tools list with its JSON schemas costs a
    tenth of a walk in Python. A value holding an object msgspec cannot take
    apart is walked by :func:`_plain_each`, which leaves that object for
    validation to name by its path.
    """
    try:
        return msgspec.to_builtins(
            value, builtin_types=_KEPT, str_keys=False, enc_hook=_plain_subclass
        )
    except TypeError:
        return _plain_each(value)


def _plain_subclass(value: Any) -> Any:
    """``to_builtins``' hook, for what it does not know: what
    :func:`_plain_each` converts (a subclass of str, int or float, a mapping
    that is not a dict); anything it would leave as it is fails the walk."""
    plain = _plain_each(value)
    if plain is value:
        raise TypeError(type(value).__name__)
    return plain


def _plain_each(value: Any) -> Any:
    """:func:`_plain` one value at a time, leaving alone what it does not know."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if isinstance(value, enum.Enum):
        return _plain_each(value.value)
    if isinstance(value, str):  # a str subclass: send it as the str it is
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    if isinstance(value, list | tuple):
        return [_plain_each(v) for v in value]
    if isinstance(value, Mapping):
        return {
            k if type(k) is str else _plain_each(k): _plain_each(v)
            for k, v in value.items()
        }
    return value


# --- whole floats for integer fields ------------------------------------------
#
# The endpoint documents max_tokens, n, seed... as JSON numbers and the official
# client accepts ``max_tokens=64.0``. A float with an integral value given for
# a field the request structs type as ``int`` is sent as that int; any other
# float (64.5, NaN, inf) is left for msgspec to refuse with the field's path.
# Where these fields are is read once from the structs themselves.

_INT: Final = "int"
#: A field tree: ``_INT`` for an integer, else {field or "*": subtree}.
_Tree = Union[str, dict[str, "_Tree"]]  # noqa: UP007


def _merge(a: _Tree, b: _Tree) -> _Tree | None:
    """The fields of two union members; a field that is an int in one and a
    struct or list in the other is left alone (None)."""
    if a == b:
        return a
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    merged = dict(a)
    for key, sub in b.items():
        both = _merge(merged[key], sub) if key in merged else sub
        if both is None:
            merged.pop(key, None)
        else:
            merged[key] = both
    return merged or None


def _integer_fields(t: mi.Type) -> _Tree | None:
    """Where ``t`` holds ``int`` fields; None where it holds none."""
    if isinstance(t, mi.IntType):
        return _INT
    if isinstance(t, mi.UnionType):
        kinds = [k for k in t.types if not isinstance(k, mi.NoneType)]
        if all(isinstance(k, mi.IntType) for k in kinds):
            return _INT
        if any(isinstance(k, mi.IntType | mi.FloatType | mi.StrType) for k in kinds):
            return None  # "int or float" (or str): the caller's value stands
        found: _Tree | None = None
        for kind in kinds:
            tree = _integer_fields(kind)
            if tree is not None:
                found = tree if found is None else _merge(found, tree)
                if found is None:
                    return None
        return found
    if isinstance(t, mi.StructType):
        fields = {f.name: _integer_fields(f.type) for f in t.fields}
        return {name: sub for name, sub in fields.items() if sub is not None} or None
    if isinstance(t, mi.ListType):
        item = _integer_fields(t.item_type)
        return None if item is None else {"*": item}
    if isinstance(t, mi.DictType):
        item = _integer_fields(t.value_type)
        return None if item is None else {"*": item}
    return None


_INTEGER_FIELDS: Final = cast(
    "dict[str, _Tree]", _integer_fields(mi.type_info(CompletionRequest))
)


def _whole(value: Any, tree: _Tree) -> Any:
    """``value`` with every integral float at an ``int`` field made an int."""
    if isinstance(tree, str):
        if type(value) is float and value.is_integer():
            return int(value)
        return value
    if type(value) is list or type(value) is tuple:
        item = tree.get("*")
        return value if item is None else [_whole(v, item) for v in value]
    if type(value) is dict:
        for key, v in value.items():
            sub = tree.get(key) or tree.get("*")
            if sub is not None:
                value[key] = _whole(v, sub)
    return value


def plain_body(
    params: Mapping[str, Any],
    integer_fields: Mapping[str, _Tree],
    nullable: frozenset[str],
) -> dict[str, Any]:
    """The request fields as plain builtins, ready for ``msgspec.convert``.

    A field explicitly None is left off unless it is ``nullable``, as the
    official SDK does; a whole float at an ``integer_fields`` place becomes
    an int (see :func:`_whole`).
    """
    body: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key, value in params.items():
        kind = type(value)
        if kind in _SCALARS:  # the usual value: nothing to convert
            if value is None and key not in nullable:
                continue
            if kind is float and key in integer_fields:
                value = _whole(value, _INT)
        else:
            nested[key] = value
        body[key] = value  # (a nested value is replaced below, in its place)
    if nested:
        # One walk for all of them (most of a walk's cost is its set-up).
        for key, value in _plain(nested).items():
            tree = integer_fields.get(key)
            body[key] = value if tree is None else _whole(value, tree)
    return body


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
    body = plain_body(params, _INTEGER_FIELDS, _NULLABLE)
    prompt = body.get("prompt")
    if type(prompt) is not str:
        if prompt is None:
            raise InvalidParameterError("prompt", "is required")
        _check_prompt(prompt)
    if "orq" in body:
        _warn_deprecated(body["orq"])
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


def _warn_deprecated(orq: object) -> None:
    # stacklevel 5: _warn_deprecated <- build_request <- request_from_keywords
    # <- create() <- the caller.
    warnings.warn(
        "the 'orq' parameter is deprecated by Orq; use the top-level fields",
        DeprecationWarning,
        stacklevel=5,
    )
    if isinstance(orq, dict) and "contact" in orq:
        warnings.warn(
            "'orq.contact' is deprecated by Orq; use 'orq.identity'",
            DeprecationWarning,
            stacklevel=5,
        )


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


def assemble_completion(chunks: Iterable[CompletionChunk]) -> Completion | None:
    """One :class:`Completion` from the chunks of a streamed answer.

    Each choice's text is joined in order, by ``index``; its ``finish_reason``
    is the last one given. ``id``, ``model``, ``created`` and
    ``system_fingerprint`` come from the first chunk that has them, ``usage``
    from the last chunk that carried it. None when there was no chunk.
    """
    first: CompletionChunk | None = None
    texts: dict[int | float, list[str]] = {}
    reasons: dict[int | float, str | None] = {}
    usage: Usage | None = None
    model = ""
    created: int | float | str | None = None
    fingerprint: str | None = None
    for chunk in chunks:
        if first is None:
            first = chunk
        model = model or chunk.model
        created = chunk.created if created is None else created
        fingerprint = fingerprint or chunk.system_fingerprint
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            texts.setdefault(choice.index, []).append(choice.text)
            if choice.finish_reason is not None or choice.index not in reasons:
                reasons[choice.index] = choice.finish_reason
    if first is None:
        return None
    return Completion(
        id=first.id,
        choices=[
            CompletionChoice(
                text="".join(texts[index]),
                index=index,
                finish_reason=reasons[index],
            )
            for index in sorted(texts)
        ],
        object="text_completion",
        created=created,
        model=model,
        system_fingerprint=fingerprint,
        usage=usage,
    )
