"""Request headers: the API key, default and extra headers, the idempotency key.

Every request's headers are built here, once per call, before any network I/O
(so a bad header value is a typed error, not a half-sent request). The API key
is held by :class:`Secret` and the headers by :class:`Headers`, whose reprs hide
credentials.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from ._codec import HEADER_TOKEN, check_header_value
from ._exceptions import InvalidParameterError, InvalidParameterTypeError
from ._transport import (
    ACCEPT,
    AUTHORIZATION,
    CONTENT_TYPE,
    IDEMPOTENCY_KEY,
    USER_AGENT_HEADER,
)
from ._version import __version__

__all__ = ["USER_AGENT", "HeaderFactory", "Headers", "Secret", "new_key"]

USER_AGENT: Final = f"orq-async/{__version__}"


class Secret:
    """Holds the API key so that no repr, log line or traceback can show it."""

    __slots__ = ("_value", "authorization", "dynamic", "secret_bytes")

    def __init__(self, value: str | Callable[[], str]) -> None:
        self._value = value
        #: Whether the key comes from a callable (checked on every request).
        self.dynamic: bool = callable(value)
        #: The Authorization header value, built once for a fixed key.
        self.authorization: str = "" if callable(value) else _authorization(value)
        #: The bare key as bytes (fixed keys), to mask echoes of it.
        self.secret_bytes: bytes = b""
        if not callable(value):
            bare = value[7:] if value[:7].lower() == "bearer " else value
            self.secret_bytes = bare.encode()

    def reveal(self) -> str:
        value = self._value
        return value() if callable(value) else value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API key cannot be pickled")


class Headers(dict[str, str]):
    """Request headers whose repr hides credentials (tracebacks that show local
    variables, debuggers, error reporters)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(
            {
                k: "[redacted]"
                if k.lower() in ("authorization", "proxy-authorization")
                else v
                for k, v in self.items()
            }
        )

    __str__ = __repr__


#: The request headers after Authorization, by Accept.
_STREAM_HEADERS: Final[dict[str, str]] = {
    CONTENT_TYPE: "application/json",
    ACCEPT: "text/event-stream",
    USER_AGENT_HEADER: USER_AGENT,
}
_JSON_HEADERS: Final[dict[str, str]] = {**_STREAM_HEADERS, ACCEPT: "application/json"}

#: Headers that frame the message: overriding them would desync a pooled
#: connection, so extra_headers may not set them.
_FRAMING_HEADERS: Final = frozenset(
    ("content-length", "transfer-encoding", "host", "connection", "upgrade", "te")
)


class HeaderFactory:
    """One client's request headers: its key and default headers, per call."""

    __slots__ = ("_defaults", "api_key")

    def __init__(self, api_key: Secret, defaults: Mapping[str, str] | None) -> None:
        self.api_key: Secret = api_key
        self._defaults = dict(defaults or {})

    def build(
        self,
        streaming: bool,
        extra: Mapping[str, str] | None,
        idempotency_key: str | None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers of one call, and the key as bytes (to mask echoes of it).

        :raises InvalidParameterError: a header name or value is invalid.
        """
        api_key = self.api_key
        if not api_key.dynamic and not extra and not self._defaults:
            headers = Headers(
                {
                    AUTHORIZATION: api_key.authorization,
                    **(_STREAM_HEADERS if streaming else _JSON_HEADERS),
                }
            )
            if idempotency_key is None:
                headers[IDEMPOTENCY_KEY] = new_key()
            else:
                _set_idempotency_key(headers, idempotency_key)
            return headers, api_key.secret_bytes
        authorization = self._authorization()
        headers = Headers(
            {
                AUTHORIZATION: authorization,
                **(_STREAM_HEADERS if streaming else _JSON_HEADERS),
            }
        )
        if extra is not None and not isinstance(extra, Mapping):
            raise InvalidParameterTypeError("extra_headers", "expected a mapping")
        for source in (self._defaults, extra or {}):
            for name, value in source.items():
                _check_extra_header(name, value)
                for existing in [k for k in headers if k.lower() == name.lower()]:
                    del headers[existing]
                headers[name] = value
        _set_idempotency_key(headers, idempotency_key)
        secret = (
            _secret_of(headers.get(AUTHORIZATION, ""))
            if api_key.dynamic
            else api_key.secret_bytes
        )
        return headers, secret

    def _authorization(self) -> str:
        api_key = self.api_key
        if not api_key.dynamic:
            return api_key.authorization
        key = api_key.reveal()
        if not isinstance(cast(object, key), str) or not key:
            raise InvalidParameterTypeError(
                "api_key", "the key callable must return a non-empty str"
            )
        check_header_value("api_key", key)
        return _authorization(key)


def _check_extra_header(name: object, value: object) -> None:
    if not (isinstance(name, str) and isinstance(value, str)):
        raise InvalidParameterTypeError(
            "extra_headers", "header names and values must be str"
        )
    if not HEADER_TOKEN.fullmatch(name):
        raise InvalidParameterError(
            "extra_headers", f"{name!r} is not a valid header name"
        )
    if name.lower() in _FRAMING_HEADERS:
        raise InvalidParameterError(
            "extra_headers", f"{name!r} is set by the client itself"
        )
    check_header_value("extra_headers", value, name)


def _authorization(key: str) -> str:
    # A key that already carries the scheme is not prefixed twice (as the SDK).
    return key if key[:7].lower() == "bearer " else f"Bearer {key}"


def _set_idempotency_key(headers: dict[str, str], key: str | None) -> None:
    """The ``Idempotency-Key`` header: ``key`` if given, else one from
    ``extra_headers`` or the client's default headers, else a new one."""
    if key is not None:
        if not isinstance(cast(object, key), str) or not key:
            raise InvalidParameterTypeError(
                "idempotency_key", "expected a non-empty str"
            )
        check_header_value("idempotency_key", key)
    given = [k for k in headers if k.lower() == "idempotency-key"]
    if key is not None or not given:
        for name in given:
            del headers[name]
        headers[IDEMPOTENCY_KEY] = key or new_key()


def _secret_of(authorization: str) -> bytes:
    """The key inside an ``Authorization`` value, to mask echoes of it."""
    key = authorization[7:] if authorization[:7].lower() == "bearer " else ""
    return key.encode()


_keys = random.Random()
if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    # A forked worker (gunicorn, multiprocessing) would otherwise draw the very
    # same keys as its parent and siblings, and a server deduplicating by key
    # would answer one worker's request with another's.
    os.register_at_fork(after_in_child=_keys.seed)


def new_key() -> str:
    """A fresh idempotency key: 128 random bits as hex.

    Uniqueness is all it needs, so a seeded PRNG does instead of ``uuid4()``,
    whose ``os.urandom`` system call costs 2 µs per request.
    """
    return f"{_keys.getrandbits(128):032x}"
