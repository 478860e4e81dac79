"""Every aiohttp failure as an orq_async exception, in one place.

:func:`translate_error` maps an aiohttp (or socket) exception to the orq_async
class for it; ``tests/unit/test_transport_mapping.py`` fails if an
``aiohttp.ClientError`` subclass has no explicit entry in
:data:`EXCEPTION_MAP`. :func:`request_failure` adds what only sending a request
can mean (a closed client, a session bound to another loop), and
:func:`is_stale_failure` recognises a pooled connection the server had closed.
Credentials an aiohttp error carries are redacted before it is chained.
"""

from __future__ import annotations

import asyncio
import errno
from typing import Final

import aiohttp
from aiohttp import client_exceptions
from multidict import CIMultiDict, CIMultiDictProxy

from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    CertificateVerificationError,
    ClientClosedError,
    ConnectTimeoutError,
    OrqError,
    ProtocolError,
    ProxyError,
    StreamConnectionError,
    StreamIdleTimeoutError,
    UsageError,
)

__all__ = [
    "EXCEPTION_MAP",
    "STALE_TYPES",
    "is_stale_failure",
    "proxy_refusal",
    "request_failure",
    "translate_error",
]

_MAPPING_BY_NAME: Final[dict[str, type[OrqError]]] = {
    "ClientError": APIConnectionError,
    "ClientConnectionError": APIConnectionError,
    "ClientConnectionResetError": APIConnectionError,
    "ClientOSError": APIConnectionError,
    "ClientConnectorError": APIConnectionError,
    "ClientConnectorDNSError": APIConnectionError,
    "ClientProxyConnectionError": ProxyError,
    "UnixClientConnectorError": APIConnectionError,
    "ClientSSLError": APIConnectionError,
    "ClientConnectorSSLError": APIConnectionError,
    "ClientConnectorCertificateError": CertificateVerificationError,
    "ServerConnectionError": APIConnectionError,
    "ServerDisconnectedError": APIConnectionError,
    "ServerFingerprintMismatch": APIConnectionError,
    "ServerTimeoutError": APITimeoutError,
    "ConnectionTimeoutError": ConnectTimeoutError,
    "SocketTimeoutError": StreamIdleTimeoutError,
    "ClientPayloadError": StreamConnectionError,
    "UploadAbortedError": APIConnectionError,
    "ClientResponseError": ProtocolError,
    "ContentTypeError": ProtocolError,
    "ClientHttpProxyError": ProxyError,
    "TooManyRedirects": ProtocolError,
    "WSServerHandshakeError": ProtocolError,
    "InvalidURL": APIConnectionError,
    "InvalidUrlClientError": APIConnectionError,
    "InvalidUrlRedirectClientError": ProtocolError,
    "NonHttpUrlClientError": APIConnectionError,
    "NonHttpUrlRedirectClientError": ProtocolError,
    "RedirectClientError": ProtocolError,
}

#: Every aiohttp client exception, mapped to the orq_async class raised for it.
#: Looked up along the MRO, so a subclass a future aiohttp adds still maps to its
#: parent's entry; the test keeps this table complete for the installed aiohttp.
#: Built by name because the set of classes differs between aiohttp 3.x releases.
EXCEPTION_MAP: Final[dict[type[BaseException], type[OrqError]]] = {
    getattr(client_exceptions, name): target
    for name, target in _MAPPING_BY_NAME.items()
    if hasattr(client_exceptions, name)
}

#: Failures where the server never saw the request, or may retry safely.
_NOT_RETRYABLE: Final = (
    aiohttp.ServerFingerprintMismatch,
    aiohttp.ClientConnectorCertificateError,
    aiohttp.InvalidURL,
    aiohttp.NonHttpUrlClientError,
)


def translate_error(
    exc: BaseException, *, request_id: str | None = None, mid_stream: bool = False
) -> OrqError:
    """The orq_async exception for a transport-level failure ``exc``.

    ``mid_stream`` marks failures after a 200 response started: those become
    :class:`StreamConnectionError` (retrying could duplicate output).
    """
    if isinstance(exc, OrqError):
        return exc
    _redact(exc)
    if not mid_stream:
        named = _proxy_or_certificate_error(exc, request_id)
        if named is not None:
            return named
    target: type[OrqError] = APIConnectionError
    for klass in type(exc).__mro__:
        if klass in EXCEPTION_MAP:
            target = EXCEPTION_MAP[klass]
            break
    else:
        if isinstance(exc, TimeoutError | asyncio.TimeoutError):
            target = APITimeoutError
    text = str(exc) or type(exc).__name__
    if (
        mid_stream
        and issubclass(target, APIConnectionError)
        and not issubclass(target, APITimeoutError)
    ):
        target = StreamConnectionError
    if issubclass(target, APIConnectionError):
        return target(
            f"{type(exc).__name__}: {text}",
            request_id=request_id,
            retryable=not mid_stream and not isinstance(exc, _NOT_RETRYABLE),
        )
    return target(f"{type(exc).__name__}: {text}", request_id=request_id)


#: How to trust a private certificate authority, for the certificate error.
_TRUST_HINT: Final = (
    "If the server uses a private certificate authority, set SSL_CERT_FILE (or "
    "SSL_CERT_DIR) to its CA bundle, or pass "
    "ssl_context=ssl.create_default_context(cafile=...); for the operating "
    "system's trust store, pass ssl_context=truststore.SSLContext("
    "ssl.PROTOCOL_TLS_CLIENT)"
)


def proxy_refusal(
    status: int, reason: str | None, request_id: str | None = None
) -> ProxyError:
    text = f"the HTTP proxy answered {status} {reason or ''}".rstrip()
    if status == 407:
        text += " (check the user name and password in the proxy URL)"
    return ProxyError(
        f"{text} instead of forwarding the request",
        status_code=status,
        request_id=request_id,
        retryable=status in (502, 503, 504),
    )


def _proxy_or_certificate_error(
    exc: BaseException, request_id: str | None
) -> OrqError | None:
    """The error naming the proxy or the certificate, for the failures that
    need one; None for every other failure."""
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return proxy_refusal(exc.status, exc.message, request_id)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        cause = exc.os_error
        reason = cause.strerror or str(cause) or type(cause).__name__
        return ProxyError(
            f"cannot connect to the HTTP proxy {exc.host}:{exc.port}: {reason}",
            request_id=request_id,
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        failure = exc.certificate_error
        reason = getattr(failure, "verify_message", None) or (
            str(failure.args[0]) if failure.args else type(failure).__name__
        )
        return CertificateVerificationError(
            f"TLS certificate verification failed for {exc.host}: {reason}. "
            + _TRUST_HINT,
            host=exc.host,
            request_id=request_id,
        )
    return None


_SECRET_HEADERS: Final = frozenset(("authorization", "proxy-authorization"))


def _redact(exc: BaseException) -> None:
    """Strip credentials from the request headers an aiohttp error carries.

    ``ClientResponseError.request_info`` holds our request headers, and its
    ``repr`` shows them; our error chains it as ``__cause__``, so the key would be
    one ``repr(err.__cause__)`` away. A connector error's connection key holds
    the proxy credentials the same way.
    """
    key = getattr(exc, "_conn_key", None)
    if getattr(key, "proxy_auth", None) is not None:
        safe = key._replace(proxy_auth=None)  # type: ignore[union-attr]
        try:
            exc._conn_key = safe  # type: ignore[attr-defined]
            exc.args = tuple(safe if a is key else a for a in exc.args)
        except (AttributeError, TypeError):  # pragma: no cover - a frozen variant
            pass
    info = getattr(exc, "request_info", None)
    if not isinstance(info, aiohttp.RequestInfo):
        return
    headers = CIMultiDict(
        (k, "[redacted]" if k.lower() in _SECRET_HEADERS else v)
        for k, v in info.headers.items()
    )
    redacted = aiohttp.RequestInfo(
        info.url, info.method, CIMultiDictProxy(headers), info.real_url
    )
    try:
        exc.request_info = redacted  # type: ignore[attr-defined]
        # The constructor's arguments are kept in .args too (and shown by repr).
        exc.args = tuple(redacted if a is info else a for a in exc.args)
    except (AttributeError, TypeError):  # pragma: no cover - a frozen variant
        pass


_CLOSED_ERRNOS: Final = frozenset((errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED))
#: The builtin errors for the same (aiohttp's "closing transport" error is a
#: ConnectionResetError too).
_CLOSED_CONNECTION: Final = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


STALE_TYPES: Final = (
    aiohttp.ClientOSError,
    aiohttp.ServerDisconnectedError,
    *_CLOSED_CONNECTION,
)


def is_stale_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the server had closed the connection before any
    byte of the response: a clean close with no response started, or a reset
    or broken pipe on the request's write (connects are excluded)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # aiohttp passes the half-parsed response head here, if any arrived.
        return isinstance(exc.message, str)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if isinstance(exc, _CLOSED_CONNECTION):
        return True
    # aiohttp rewraps a failed body write with the errno only (None for the
    # "closing transport" error), the original as its cause.
    return isinstance(exc, aiohttp.ClientOSError) and (
        exc.errno in _CLOSED_ERRNOS or isinstance(exc.__cause__, _CLOSED_CONNECTION)
    )


def request_failure(exc: BaseException, *, client_closed: bool) -> OrqError | None:
    """The orq_async error for ``exc``, raised while sending a request and
    waiting for its response headers; None for an exception that is not a
    transport failure (a cancellation, a bug), which propagates as is."""
    if client_closed:
        # aclose() closed the session under this request: say so, and never
        # let a retry send it again.
        return ClientClosedError("the client was closed during the request")
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return translate_error(exc)
    if isinstance(exc, RuntimeError | ValueError):
        # e.g. a caller's session bound to another event loop.
        return UsageError(
            "the aiohttp session cannot send this request: " + type(exc).__name__
        )
    return None
