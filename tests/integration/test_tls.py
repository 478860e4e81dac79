"""TLS against a server whose certificate comes from a private CA (trustme)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orq_async import (
    AsyncOrq,
    CertificateVerificationError,
    InvalidParameterError,
)
from orq_async.testing import FakeOrqServer

from ..conftest import API_KEY
from ..real_servers import client_context, server_context

if TYPE_CHECKING:
    import trustme


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(autouse=True)
def no_cert_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


async def test_the_default_context_rejects_a_private_ca_with_a_typed_error(
    tls_server: FakeOrqServer,
) -> None:
    async with AsyncOrq(api_key=API_KEY, server_url=tls_server.url) as orq:
        with pytest.raises(CertificateVerificationError) as caught:
            await orq.router.completions.create(model="m", prompt="p")

    error = caught.value
    assert error.host == "127.0.0.1"
    assert not error.retryable
    text = str(error)
    assert text.startswith("TLS certificate verification failed for 127.0.0.1: ")
    assert "SSL_CERT_FILE" in text and "ssl_context=" in text
    assert tls_server.request_count == 0


async def test_ssl_cert_file_is_trusted_by_the_default_context(
    tls_server: FakeOrqServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    async with AsyncOrq(api_key=API_KEY, server_url=tls_server.url) as orq:
        result = await orq.router.completions.create(model="m", prompt="p")

    assert result.choices[0].text
    assert tls_server.request_count == 1


async def test_trust_env_false_ignores_ssl_cert_file(
    tls_server: FakeOrqServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    async with AsyncOrq(
        api_key=API_KEY, server_url=tls_server.url, trust_env=False
    ) as orq:
        with pytest.raises(CertificateVerificationError):
            await orq.router.completions.create(model="m", prompt="p")


async def test_an_explicit_ssl_context_is_used(
    tls_server: FakeOrqServer, ca: trustme.CA
) -> None:
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=tls_server.url,
        ssl_context=client_context(ca),
    ) as orq:
        result = await orq.router.completions.create(model="m", prompt="p")

    assert result.choices[0].text


async def test_a_certificate_for_another_host_is_rejected(ca: trustme.CA) -> None:
    context = server_context(ca, "orq.example")
    async with (
        FakeOrqServer(api_key=API_KEY, ssl_context=context) as server,
        AsyncOrq(
            api_key=API_KEY,
            server_url=server.url,
            ssl_context=client_context(ca),
        ) as orq,
    ):
        with pytest.raises(CertificateVerificationError) as caught:
            await orq.router.completions.create(model="m", prompt="p")

    assert caught.value.host == "127.0.0.1"
    assert "127.0.0.1" in str(caught.value)
    assert server.request_count == 0


def test_a_missing_ssl_cert_file_is_a_usage_error_before_any_io(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))

    with pytest.raises(InvalidParameterError, match="SSL_CERT_FILE"):
        AsyncOrq(api_key=API_KEY, server_url="https://127.0.0.1:9")


def test_ssl_context_must_be_a_context_or_bool() -> None:
    with pytest.raises(InvalidParameterError, match="ssl_context"):
        AsyncOrq(
            api_key=API_KEY,
            server_url="https://127.0.0.1:9",
            ssl_context="yes",  # type: ignore[arg-type]
        )
