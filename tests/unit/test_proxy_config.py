"""Which proxy a client uses: the option, the environment, NO_PROXY."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orq_async import InvalidParameterError
from orq_async._config import Proxy, bypasses_proxy, parse_proxy, resolve_proxy

SECRET = "s3cret-pw"


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypassed"),
    [
        pytest.param("api.orq.ai", 443, "*", True, id="star"),
        pytest.param("api.orq.ai", 443, "api.orq.ai", True, id="host"),
        pytest.param("API.ORQ.AI", 443, "api.orq.ai", True, id="case"),
        pytest.param("api.orq.ai", 443, "orq.ai", True, id="domain"),
        pytest.param("api.orq.ai", 443, ".orq.ai", True, id="dot-domain"),
        pytest.param("api.orq.ai", 443, "*.orq.ai", True, id="star-domain"),
        pytest.param("orq.ai", 443, ".orq.ai", True, id="dot-domain-itself"),
        pytest.param("notorq.ai", 443, "orq.ai", False, id="suffix-not-domain"),
        pytest.param("api.orq.ai", 443, "api.orq.ai:443", True, id="port"),
        pytest.param("api.orq.ai", 443, "api.orq.ai:8443", False, id="other-port"),
        pytest.param("api.orq.ai", 443, " x.com , api.orq.ai ", True, id="list"),
        pytest.param("api.orq.ai", 443, "x.com,,y.com", False, id="no-match"),
        pytest.param("10.1.2.3", 80, "10.0.0.0/8", True, id="cidr"),
        pytest.param("11.1.2.3", 80, "10.0.0.0/8", False, id="outside-cidr"),
        pytest.param("::1", 80, "[::1]:80", True, id="ipv6-port"),
        pytest.param("::1", 80, "::1", True, id="ipv6"),
        pytest.param("api.orq.ai", 443, "http://api.orq.ai", True, id="scheme"),
        pytest.param("api.orq.ai", 443, "", False, id="empty"),
    ],
)
def test_no_proxy_forms(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypassed


@given(host=st.text(max_size=30), port=st.integers(0, 65535), value=st.text())
def test_no_proxy_parsing_never_raises(host: str, port: int, value: str) -> None:
    assert bypasses_proxy(host, port, value) in (True, False)


def test_https_proxy_for_an_https_server_lower_case_first() -> None:
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128"}

    proxy = resolve_proxy("https://api.orq.ai", None, True, env)

    assert proxy is not None
    assert proxy.url == "http://lower:3128"
    assert proxy.source == "https_proxy"


def test_http_proxy_is_not_used_for_an_https_server() -> None:
    env = {"HTTP_PROXY": "http://p:3128"}

    assert resolve_proxy("https://api.orq.ai", None, True, env) is None
    assert resolve_proxy("http://api.orq.ai", None, True, env) is not None


def test_all_proxy_is_the_fallback() -> None:
    env = {"ALL_PROXY": "p:3128"}

    proxy = resolve_proxy("https://api.orq.ai", None, True, env)

    assert proxy == Proxy("http://p:3128", None, None, "ALL_PROXY")


def test_no_proxy_exempts_the_server() -> None:
    env = {"HTTPS_PROXY": "http://p:3128", "no_proxy": "orq.ai"}

    assert resolve_proxy("https://api.orq.ai", None, True, env) is None


def test_the_option_wins_over_environment_and_trust_env() -> None:
    env = {"HTTPS_PROXY": "http://env:3128", "NO_PROXY": "*"}

    proxy = resolve_proxy("https://api.orq.ai", "http://opt:8080", False, env)

    assert proxy is not None and proxy.url == "http://opt:8080"


def test_trust_env_false_reads_nothing() -> None:
    assert resolve_proxy("https://a.b", None, False, {"HTTPS_PROXY": "p:1"}) is None


def test_credentials_are_split_off_and_decoded() -> None:
    proxy = parse_proxy(f"http://us%40er:{SECRET}%21@proxy.corp:3128", "proxy")

    assert proxy.url == "http://proxy.corp:3128"
    assert (proxy.username, proxy.password) == ("us@er", SECRET + "!")
    assert SECRET not in repr(proxy) and "us@er" not in str(proxy)
    assert repr(proxy) == "Proxy('http://[redacted]@proxy.corp:3128', from proxy)"


def test_default_ports() -> None:
    assert parse_proxy("http://p", "proxy").url == "http://p:80"
    assert parse_proxy("https://p", "proxy").url == "https://p:443"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"socks5://u:{SECRET}@p:1080", id="socks"),
        pytest.param(f"http://u:{SECRET}@p:notaport", id="port"),
        pytest.param(f"http://u:{SECRET}@:3128", id="no-host"),
    ],
)
def test_bad_proxy_urls_name_the_source_not_the_value(value: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        parse_proxy(value, "HTTPS_PROXY")

    assert "HTTPS_PROXY" in str(caught.value)
    assert SECRET not in str(caught.value)


@given(value=st.text(max_size=60))
def test_parse_proxy_gives_a_proxy_or_a_usage_error_without_the_value(
    value: str,
) -> None:
    try:
        proxy = parse_proxy(value, "HTTPS_PROXY")
    except InvalidParameterError as exc:
        assert "HTTPS_PROXY" in str(exc)
        if len(value) > 12:
            assert value not in str(exc)
    else:
        assert proxy.url.startswith(("http://", "https://"))
