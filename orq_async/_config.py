"""Client configuration values: time limits, pool limits, the proxy (pure).

Nothing here does I/O: the proxy is resolved from a mapping of environment
variables passed in, so tests pass their own.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import urllib.parse
from collections.abc import Mapping
from typing import Final, final

from ._exceptions import InvalidParameterError, InvalidParameterTypeError

__all__ = [
    "DEFAULT_KEEPALIVE_EXPIRY",
    "DEFAULT_POOL_LIMITS",
    "DEFAULT_SERVER_URL",
    "DEFAULT_TIMEOUTS",
    "PoolLimits",
    "Proxy",
    "Timeouts",
    "resolve_proxy",
]

DEFAULT_SERVER_URL = "https://api.orq.ai"

#: Seconds an idle pooled connection is kept. Shorter than the shortest common
#: server idle timeouts (5 s: uvicorn, Node.js, Apache; 60-75 s: nginx, AWS
#: ALB, aiohttp's server), so the client normally drops an idle connection before
#: the server closes it; the rare race left over is covered by re-sending once
#: on a fresh connection.
DEFAULT_KEEPALIVE_EXPIRY: Final = 4.0
COMPLETIONS_PATH = "/v2/router/completions"
CHAT_COMPLETIONS_PATH = "/v2/router/chat/completions"


def _check_limit(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterTypeError(
            name, f"expected seconds or None, got {value!r}"
        )
    if not value > 0 or not math.isfinite(value):
        raise InvalidParameterError(
            name,
            f"must be a finite number of seconds > 0 (None: no limit), got {value!r}",
        )


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Timeouts:
    """Separate, named time limits in seconds; ``None`` turns one off.

    Each limit raises its own subclass of :class:`~orq_async.APITimeoutError`.

    :param connect: establishing the TCP (and TLS) connection.
    :param pool: waiting for a free pooled connection when the pool is full.
    :param first_byte: from sending the request to receiving the response headers.
        For a non-streaming call this covers the whole generation.
    :param stream_idle: the longest wait for the next data event (or body bytes of
        a non-streaming response). Keep-alive comments do not reset it.
    :param deadline: the whole call, including retries and backoff sleeps; for a
        stream, until its last chunk.
    """

    connect: float | None = 10.0
    pool: float | None = 10.0
    first_byte: float | None = 600.0
    stream_idle: float | None = 120.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check_limit(f"timeouts.{field.name}", getattr(self, field.name))

    def replace(
        self,
        **changes: float | None,
    ) -> Timeouts:
        """A copy with some limits changed."""
        return dataclasses.replace(self, **changes)


@final
@dataclasses.dataclass(frozen=True, slots=True)
class PoolLimits:
    """The connection pool (one aiohttp TCPConnector per client per event loop).

    :param max_connections: open connections at most, over all hosts.
    :param max_connections_per_host: at most per host; 0 means only the total applies.
    :param keepalive_expiry: seconds an idle connection stays in the pool;
        keep it below the server's (and any load balancer's) idle timeout.
    :param dns_cache_ttl: seconds a DNS answer is cached; None caches forever.
    """

    max_connections: int = 1000
    max_connections_per_host: int = 0
    keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY
    dns_cache_ttl: int | None = 300

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_connections_per_host"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterTypeError(f"limits.{name}", "expected int")
            if value < 0:
                raise InvalidParameterError(f"limits.{name}", "must be >= 0")
        if self.max_connections == 0:
            raise InvalidParameterError(
                "limits.max_connections",
                "must be >= 1 (an unbounded pool cannot time out)",
            )
        _check_limit("limits.keepalive_expiry", self.keepalive_expiry)
        ttl: object = self.dns_cache_ttl
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0
        ):
            raise InvalidParameterError(
                "limits.dns_cache_ttl", "must be an int >= 0 (seconds) or None"
            )


@final
class Proxy:
    """An HTTP proxy: its URL without credentials, and the credentials apart.

    The repr never shows the password (nor the user name).
    """

    __slots__ = ("password", "source", "url", "username")

    def __init__(
        self, url: str, username: str | None, password: str | None, source: str
    ) -> None:
        #: ``scheme://host:port`` of the proxy, without credentials.
        self.url: str = url
        self.username: str | None = username
        self.password: str | None = password
        #: Where it came from: ``"proxy="`` or the environment variable's name.
        self.source: str = source

    def __repr__(self) -> str:
        auth = "[redacted]@" if self.username or self.password else ""
        scheme, _, rest = self.url.partition("://")
        return f"Proxy('{scheme}://{auth}{rest}', from {self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and (
            self.url,
            self.username,
            self.password,
        ) == (other.url, other.username, other.password)

    def __hash__(self) -> int:
        return hash(self.url)


def parse_proxy(value: str, source: str) -> Proxy:
    """The :class:`Proxy` for a URL such as ``http://user:pass@host:3128``.

    A value without a scheme is taken as ``http://`` (as curl does). Error
    messages name ``source`` and never repeat the value (it may hold a password).

    :raises InvalidParameterError: not an http(s) proxy URL with a host.
    """
    if not isinstance(value, str):
        raise InvalidParameterTypeError(source, "expected a proxy URL (str)")
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidParameterError(source, "is not a valid proxy URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidParameterError(
            source,
            f"proxy scheme {scheme!r} is not supported (use an http:// proxy; "
            "HTTPS requests go through it with CONNECT)",
        )
    host = parts.hostname
    if not host:
        raise InvalidParameterError(source, "the proxy URL has no host")
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        port = 443 if scheme == "https" else 80
    username = None if parts.username is None else urllib.parse.unquote(parts.username)
    password = None if parts.password is None else urllib.parse.unquote(parts.password)
    return Proxy(f"{scheme}://{host}:{port}", username, password, source)


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``(variable name, value)`` of ``name`` in either case (lower case first,
    as curl and urllib read it); None when unset or empty."""
    for key in (name.lower(), name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return key, value
    return None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (comma-separated) exempts ``host:port``.

    Entries: ``*`` (everything), a host or IP, a domain (``example.com`` or
    ``.example.com``: the domain and its subdomains), an IP network
    (``10.0.0.0/8``), each optionally with ``:port``.
    """
    host = host.lower().rstrip(".").strip("[]")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = (
            ipaddress.ip_address(host)
        )
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "://" in entry:
            entry = entry.partition("://")[2]
        entry_port: int | None = None
        if entry.startswith("["):  # [v6]:port
            name, _, rest = entry[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
            entry = name
        elif entry.count(":") == 1:
            name, _, digits = entry.partition(":")
            if digits.isdigit():
                entry, entry_port = name, int(digits)
        if entry_port is not None and entry_port != port:
            continue
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if address is not None and address in network:
                return True
            continue
        entry = entry.lstrip("*").lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


def resolve_proxy(
    server_url: str,
    proxy: str | None,
    trust_env: bool,
    environ: Mapping[str, str],
) -> Proxy | None:
    """The proxy for requests to ``server_url``, or None for a direct connection.

    An explicit ``proxy`` wins. Otherwise, when ``trust_env`` is true, the
    variables httpx, requests and curl read: ``HTTPS_PROXY`` (for an https
    server) or ``HTTP_PROXY`` (for http), then ``ALL_PROXY``, unless
    ``NO_PROXY`` exempts the server; each in lower or upper case.

    :raises InvalidParameterError: a proxy URL that cannot be used.
    """
    if proxy is not None:
        return parse_proxy(proxy, "proxy")
    if not trust_env:
        return None
    parts = urllib.parse.urlsplit(server_url)
    scheme = parts.scheme.lower()
    found = _env(environ, f"{scheme}_proxy") or _env(environ, "all_proxy")
    if found is None:
        return None
    no_proxy = _env(environ, "no_proxy")
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    if no_proxy is not None and bypasses_proxy(host, port, no_proxy[1]):
        return None
    name, value = found
    return parse_proxy(value, name)


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_POOL_LIMITS = PoolLimits()
