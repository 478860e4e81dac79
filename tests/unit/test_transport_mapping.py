"""Every aiohttp client exception has an explicit, typed translation.

Fails as soon as an installed aiohttp grows a ``ClientError`` subclass that
the transport's ``EXCEPTION_MAP`` does not name (httpx's
``test_httpcore_all_exceptions_mapped`` idea).
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import Callable, Iterator

import aiohttp
import pytest
from aiohttp import client_exceptions
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from orq_async import (
    APIConnectionError,
    APITimeoutError,
    CertificateVerificationError,
    ConnectTimeoutError,
    OrqError,
    ProtocolError,
    ProxyError,
    StreamConnectionError,
    StreamIdleTimeoutError,
)

from ..internals import EXCEPTION_MAP, translate_error


def all_subclasses(cls: type[BaseException]) -> Iterator[type[BaseException]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def aiohttp_client_errors() -> list[type[BaseException]]:
    """Every ClientError subclass defined by aiohttp, the root included."""
    found: set[type[BaseException]] = {
        aiohttp.ClientError,
        *all_subclasses(client_exceptions.ClientError),
    }
    ours = {c for c in found if c.__module__.split(".")[0] == "aiohttp"}
    return sorted(ours, key=lambda c: c.__name__)


ERRORS = aiohttp_client_errors()

CONN_KEY = ConnectionKey(
    **dict.fromkeys(ConnectionKey._fields, None)  # type: ignore[arg-type]
)._replace(host="example.invalid", port=443, is_ssl=True)
REQUEST_INFO = RequestInfo(
    URL("https://example.invalid/v2/router/completions"),
    "POST",
    CIMultiDictProxy(CIMultiDict()),
)

Factory = Callable[[type[BaseException]], BaseException]

#: How to build an instance, by the nearest ancestor in the MRO.
FACTORIES: dict[type[BaseException], Factory] = {
    client_exceptions.ClientResponseError: lambda c: c(  # type: ignore[call-arg]
        REQUEST_INFO, (), status=502, message="Bad Gateway"
    ),
    client_exceptions.ClientConnectorCertificateError: lambda c: c(
        CONN_KEY, ssl.CertificateError("hostname mismatch")
    ),
    client_exceptions.ClientConnectorError: lambda c: c(
        CONN_KEY, OSError(111, "Connection refused")
    ),
    client_exceptions.ServerFingerprintMismatch: lambda c: c(
        b"expected", b"got", "example.invalid", 443
    ),
    client_exceptions.InvalidURL: lambda c: c("not a url", "bad"),
    client_exceptions.ClientOSError: lambda c: c(104, "Connection reset by peer"),
    client_exceptions.ServerDisconnectedError: lambda c: c(),
    aiohttp.ClientError: lambda c: c("something failed"),
}
if hasattr(client_exceptions, "UnixClientConnectorError"):
    FACTORIES[client_exceptions.UnixClientConnectorError] = lambda c: c(
        "/tmp/orq.sock", CONN_KEY, OSError(2, "No such file")
    )


def instantiate(cls: type[BaseException]) -> BaseException:
    for klass in cls.__mro__:
        if klass in FACTORIES:
            return FACTORIES[klass](cls)
    raise AssertionError(f"no factory for {cls!r}")  # pragma: no cover


def test_the_walk_finds_the_known_classes() -> None:
    names = {c.__name__ for c in ERRORS}

    assert len(ERRORS) >= 25
    assert {
        "ClientError",
        "ClientConnectorError",
        "ServerDisconnectedError",
        "ClientPayloadError",
        "ClientResponseError",
        "ServerTimeoutError",
    } <= names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_aiohttp_client_error_is_an_explicit_key(
    cls: type[BaseException],
) -> None:
    assert cls in EXCEPTION_MAP


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_translate_error_returns_the_mapped_orq_error(cls: type[BaseException]) -> None:
    exc = instantiate(cls)

    result = translate_error(exc, request_id="rid")

    assert isinstance(result, OrqError)
    assert not isinstance(result, aiohttp.ClientError)
    assert type(result) is EXCEPTION_MAP[cls]
    assert result.request_id == "rid"
    if isinstance(result, ProxyError):
        assert "proxy" in str(result)
    elif isinstance(result, CertificateVerificationError):
        assert str(result).startswith(
            "TLS certificate verification failed for example.invalid: "
        )
        assert "SSL_CERT_FILE" in str(result) and result.host == "example.invalid"
    else:
        assert str(result).startswith(f"{cls.__name__}: ")


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_translate_error_mid_stream(cls: type[BaseException]) -> None:
    result = translate_error(instantiate(cls), mid_stream=True)

    assert isinstance(result, OrqError)
    assert not isinstance(result, aiohttp.ClientError)
    assert not result.retryable
    target = EXCEPTION_MAP[cls]
    if issubclass(target, APITimeoutError):
        assert type(result) is target
    elif issubclass(target, APIConnectionError):
        assert type(result) is StreamConnectionError
    else:
        assert type(result) is target


def test_every_target_is_an_orq_error() -> None:
    assert all(issubclass(t, OrqError) for t in EXCEPTION_MAP.values())
    assert all(issubclass(k, BaseException) for k in EXCEPTION_MAP)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(
            client_exceptions.ServerDisconnectedError(),
            APIConnectionError,
            id="disconnected",
        ),
        pytest.param(
            client_exceptions.ConnectionTimeoutError("t"),
            ConnectTimeoutError,
            id="connect-timeout",
        ),
        pytest.param(
            client_exceptions.SocketTimeoutError("t"),
            StreamIdleTimeoutError,
            id="socket-timeout",
        ),
        pytest.param(
            client_exceptions.ServerTimeoutError("t"),
            APITimeoutError,
            id="server-timeout",
        ),
        pytest.param(
            client_exceptions.ClientPayloadError("truncated"),
            StreamConnectionError,
            id="payload",
        ),
        pytest.param(OSError(104, "reset"), APIConnectionError, id="plain-oserror"),
        pytest.param(ConnectionResetError(), APIConnectionError, id="conn-reset"),
        pytest.param(asyncio.TimeoutError(), APITimeoutError, id="asyncio-timeout"),
        pytest.param(TimeoutError(), APITimeoutError, id="builtin-timeout"),
        pytest.param(RuntimeError("?"), APIConnectionError, id="unknown"),
    ],
)
def test_translate_specific_errors(
    exc: BaseException, expected: type[OrqError]
) -> None:
    result = translate_error(exc)

    assert type(result) is expected
    assert result.retryable


@pytest.mark.parametrize(
    "cls",
    [
        client_exceptions.ServerFingerprintMismatch,
        client_exceptions.ClientConnectorCertificateError,
        client_exceptions.InvalidURL,
        client_exceptions.NonHttpUrlClientError,
    ],
    ids=lambda c: c.__name__,
)
def test_configuration_failures_are_not_retryable(cls: type[BaseException]) -> None:
    assert not translate_error(instantiate(cls)).retryable


def test_refused_connection_is_retryable() -> None:
    exc = instantiate(client_exceptions.ClientConnectorError)

    assert translate_error(exc).retryable


def test_response_errors_are_protocol_errors() -> None:
    exc = instantiate(client_exceptions.ClientResponseError)

    assert isinstance(translate_error(exc), ProtocolError)


def test_orq_errors_pass_through_unchanged() -> None:
    original = StreamIdleTimeoutError("idle")

    assert translate_error(original) is original


def test_timeout_errors_are_builtin_timeouts() -> None:
    exc = client_exceptions.ConnectionTimeoutError("t")

    assert isinstance(translate_error(exc), TimeoutError)


def test_proxy_credentials_are_dropped_from_the_chained_aiohttp_error() -> None:
    # A caller's own session may carry proxy credentials as proxy_auth: they
    # sit in the connection key, which the aiohttp error's repr shows.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        auth = aiohttp.BasicAuth("user", "pr0xy-S3CRET")
    key = CONN_KEY._replace(proxy=URL("http://127.0.0.1:3128"), proxy_auth=auth)
    exc = client_exceptions.ClientProxyConnectionError(
        key, OSError(111, "Connection refused")
    )

    result = translate_error(exc)

    assert isinstance(result, ProxyError)
    assert "pr0xy-S3CRET" not in repr(exc) + repr(exc.args) + str(result)
