"""Requests through a real forward proxy (pproxy) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING

import aiohttp
import pytest

from orq_async import (
    AsyncOrq,
    CertificateVerificationError,
    Orq,
    OrqError,
    ProxyError,
)
from orq_async.testing import FakeOrqServer

from ..conftest import API_KEY
from ..real_servers import (
    ForwardProxy,
    client_context,
    free_port,
)

if TYPE_CHECKING:
    import trustme

USER = "proxy-user"
PASSWORD = "pr0xy-S3CRET-pw"
PROXY_ENV = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    started = ForwardProxy()
    yield started
    started.stop()


@pytest.fixture
def auth_proxy() -> Iterator[ForwardProxy]:
    started = ForwardProxy(f"{USER}:{PASSWORD}")
    yield started
    started.stop()


@pytest.fixture
def dead_proxy_port() -> int:
    return free_port()


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text
        assert API_KEY not in text


def _everything_about(error: BaseException) -> list[str]:
    return [
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        repr(error.__cause__),
        repr(getattr(error.__cause__, "args", None)),
    ]


async def _complete(orq: AsyncOrq) -> str:
    result = await orq.router.completions.create(model="m", prompt="p")
    return result.choices[0].text


def _relayed(proxy: ForwardProxy, server_port: int) -> bool:
    return f"-> 127.0.0.1:{server_port}" in proxy.stop()


async def test_plain_http_goes_through_the_proxy_option(
    server: FakeOrqServer, proxy: ForwardProxy
) -> None:
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, proxy=f"http://{proxy.address}"
    ) as orq:
        assert await _complete(orq)

    assert _relayed(proxy, server.port)


async def test_http_proxy_from_the_environment(
    server: FakeOrqServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", f"http://{proxy.address}")
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        assert await _complete(orq)

    assert _relayed(proxy, server.port)


async def test_all_proxy_from_the_environment(
    server: FakeOrqServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", proxy.address)  # no scheme: http://
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        assert await _complete(orq)

    assert _relayed(proxy, server.port)


async def test_https_goes_through_a_connect_tunnel_with_proxy_auth(
    tls_server: FakeOrqServer,
    ca: trustme.CA,
    auth_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = tls_server
    monkeypatch.setenv("HTTPS_PROXY", f"http://{USER}:{PASSWORD}@{auth_proxy.address}")
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        ssl_context=client_context(ca),
    ) as orq:
        assert await _complete(orq)

    assert server.request_count == 1
    # The tunnel hides the request: the proxy saw a CONNECT to the server.
    assert _relayed(auth_proxy, server.port)
    # Proxy credentials go to the proxy only, never through the tunnel.
    assert "proxy-authorization" not in {k.lower() for k in server.requests[0].headers}


async def test_plain_http_with_proxy_auth(
    server: FakeOrqServer, auth_proxy: ForwardProxy
) -> None:
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        proxy=f"http://{USER}:{PASSWORD}@{auth_proxy.address}",
    ) as orq:
        assert await _complete(orq)

    assert _relayed(auth_proxy, server.port)


@pytest.mark.parametrize("credentials", [None, f"{USER}:wrong"], ids=["none", "wrong"])
async def test_a_407_is_a_proxy_error_without_the_credentials(
    server: FakeOrqServer,
    auth_proxy: ForwardProxy,
    credentials: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = "" if credentials is None else credentials + "@"
    caplog.set_level(logging.DEBUG, logger="orq_async")
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        proxy=f"http://{auth}{auth_proxy.address}",
        retries=0,
    ) as orq:
        with pytest.raises(ProxyError) as caught:
            await _complete(orq)
        _no_secret(repr(orq))

    assert caught.value.status_code == 407
    assert not caught.value.retryable
    assert "proxy" in str(caught.value) and "407" in str(caught.value)
    assert server.request_count == 0
    _no_secret(*_everything_about(caught.value), caplog.text)
    assert "wrong" not in "".join(_everything_about(caught.value))


async def test_https_407_is_a_proxy_error_without_the_credentials(
    tls_server: FakeOrqServer, ca: trustme.CA, auth_proxy: ForwardProxy
) -> None:
    server = tls_server
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        ssl_context=client_context(ca),
        proxy=f"http://{USER}:not-{PASSWORD}@{auth_proxy.address}",
        retries=0,
    ) as orq:
        with pytest.raises(ProxyError) as caught:
            await _complete(orq)

    assert caught.value.status_code == 407
    for text in _everything_about(caught.value):
        assert f"not-{PASSWORD}" not in text


async def test_a_proxy_that_is_down_is_a_proxy_error_without_the_credentials(
    server: FakeOrqServer, dead_proxy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orq_async")
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        proxy=f"http://{USER}:{PASSWORD}@127.0.0.1:{dead_proxy_port}",
        retries=0,
    ) as orq:
        with pytest.raises(ProxyError) as caught:
            await _complete(orq)

    assert caught.value.status_code is None
    assert caught.value.retryable
    assert f"cannot connect to the HTTP proxy 127.0.0.1:{dead_proxy_port}" in str(
        caught.value
    )
    _no_secret(*_everything_about(caught.value), caplog.text)


async def test_a_502_from_the_proxy_is_a_retryable_proxy_error(
    tls_server: FakeOrqServer,
    ca: trustme.CA,
) -> None:
    # A proxy that cannot reach the upstream answers the CONNECT with 502.
    async def refuse(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    gateway = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = gateway.sockets[0].getsockname()[1]
    server = tls_server
    try:
        async with AsyncOrq(
            api_key=API_KEY,
            server_url=server.url,
            ssl_context=client_context(ca),
            proxy=f"http://127.0.0.1:{port}",
            retries=0,
        ) as orq:
            with pytest.raises(ProxyError) as caught:
                await _complete(orq)
    finally:
        gateway.close()
        await gateway.wait_closed()

    assert caught.value.status_code == 502
    assert caught.value.retryable
    assert "proxy answered 502" in str(caught.value)


async def test_no_proxy_bypasses_the_environment_proxy(
    server: FakeOrqServer, dead_proxy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_proxy_port}")
    monkeypatch.setenv("NO_PROXY", f"example.com, 127.0.0.1:{server.port}")
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        assert await _complete(orq)


async def test_no_proxy_for_another_port_does_not_bypass(
    server: FakeOrqServer, dead_proxy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_proxy_port}")
    monkeypatch.setenv("NO_PROXY", f"127.0.0.1:{server.port + 1}")
    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=0) as orq:
        with pytest.raises(ProxyError):
            await _complete(orq)


async def test_trust_env_false_ignores_the_environment_proxy(
    server: FakeOrqServer, dead_proxy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_proxy_port}")
    async with AsyncOrq(api_key=API_KEY, server_url=server.url, trust_env=False) as orq:
        assert await _complete(orq)


async def test_the_proxy_option_overrides_the_environment(
    server: FakeOrqServer,
    proxy: ForwardProxy,
    dead_proxy_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_proxy_port}")
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, proxy=f"http://{proxy.address}"
    ) as orq:
        assert await _complete(orq)

    assert _relayed(proxy, server.port)


def test_a_socks_proxy_is_a_usage_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://{USER}:{PASSWORD}@127.0.0.1:1080")

    with pytest.raises(OrqError) as caught:
        AsyncOrq(api_key=API_KEY)

    assert "HTTPS_PROXY" in str(caught.value)
    _no_secret(str(caught.value), repr(caught.value))


async def test_a_private_ca_behind_a_connect_tunnel_is_a_certificate_error(
    tls_server: FakeOrqServer, proxy: ForwardProxy
) -> None:
    server = tls_server
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        proxy=f"http://{proxy.address}",
        trust_env=False,
    ) as orq:
        with pytest.raises(CertificateVerificationError) as caught:
            await _complete(orq)

    assert caught.value.host == "127.0.0.1"
    assert server.request_count == 0


def test_the_blocking_client_takes_the_proxy_option(
    threaded_server: FakeOrqServer, proxy: ForwardProxy
) -> None:
    with Orq(
        api_key=API_KEY,
        server_url=threaded_server.url,
        proxy=f"http://{proxy.address}",
    ) as orq:
        result = orq.router.completions.create(model="m", prompt="p")

    assert result.choices[0].text
    assert _relayed(proxy, threaded_server.port)


async def test_a_callers_session_keeps_its_own_proxy_settings(
    server: FakeOrqServer, dead_proxy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_proxy_port}")
    async with (
        aiohttp.ClientSession() as session,
        AsyncOrq(api_key=API_KEY, server_url=server.url, session=session) as orq,
    ):
        assert await _complete(orq)
