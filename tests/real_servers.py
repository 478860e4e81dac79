"""Real servers on 127.0.0.1 for the network tests.

A forward proxy (``pproxy``, a subprocess, so it serves whatever loop the test
runs on), a private certificate authority (``trustme``), and a raw HTTP/1.1
server whose connections follow a script (to close a kept-alive connection at a
chosen moment). A missing component fails the test with how to install it; it
is never skipped.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from orq_async.testing import completion_chunk, sse_frame

if TYPE_CHECKING:
    import trustme

INSTALL_HINT = "install the test dependencies: pip install -e '.[dev]'"

# pproxy switches to uvloop when it can import it, through a loop API uvloop
# no longer offers; the proxy's own loop does not matter, so it runs on asyncio.
_PPROXY_MAIN = (
    "import sys; sys.modules['uvloop'] = None; from pproxy.server import main; main()"
)


def require(module: str, what: str) -> None:
    """Fail (never skip) when a real component is not installed."""
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{what} needs the {module!r} package: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the proxy exited: {proc.communicate()[0]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


class ForwardProxy:
    """pproxy as an HTTP forward proxy (plain requests and CONNECT), with
    optional basic auth; :meth:`stop` returns its verbose log."""

    def __init__(self, credentials: str | None = None) -> None:
        require("pproxy", "the proxy test")
        self.port = free_port()
        listen = f"http://127.0.0.1:{self.port}"
        if credentials is not None:
            listen += f"#{credentials}"
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _PPROXY_MAIN, "-l", listen, "-v", "--auth", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_listening(self.port, self._proc)
        self._log: str | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> str:
        if self._log is None:
            self._proc.terminate()
            self._log = self._proc.communicate(timeout=10)[0]
        return self._log


#: What the scripted server does with a request: ``"answer"``, ``"close"``
#: (close the connection without a byte), or ``"partial"`` (send the start of
#: a response, then close).
Action = str


class ScriptedHTTPServer:
    """A raw HTTP/1.1 server on 127.0.0.1 whose ``script(connection index,
    request index on that connection)`` decides each request's fate.

    ``processed`` counts answered requests per ``Idempotency-Key``.
    """

    def __init__(self, script: Callable[[int, int], Action]) -> None:
        self.script = script
        self.connections = 0
        self.processed: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ScriptedHTTPServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        index = self.connections
        self.connections += 1
        try:
            for number in range(1000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                headers = dict(
                    line.split(": ", 1)
                    for line in head.decode("latin-1").split("\r\n")[1:]
                    if ": " in line
                )
                lower = {k.lower(): v for k, v in headers.items()}
                await reader.readexactly(int(lower.get("content-length", "0")))
                action = self.script(index, number)
                if action == "close":
                    return
                if action == "partial":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
                    await writer.drain()
                    return
                key = lower.get("idempotency-key", "")
                self.processed[key] = self.processed.get(key, 0) + 1
                chunk = completion_chunk("ok", finish_reason="stop")
                if lower.get("accept") == "text/event-stream":
                    ctype = b"text/event-stream"
                    body = sse_frame(chunk) + sse_frame("[DONE]")
                else:
                    ctype = b"application/json"
                    body = json.dumps(chunk).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (ctype, len(body), body)
                )
                await writer.drain()
        finally:
            writer.close()


def private_ca() -> trustme.CA:
    """A throw-away certificate authority no trust store knows."""
    require("trustme", "the TLS test")
    import trustme

    return trustme.CA()


def server_context(ca: trustme.CA, *hostnames: str) -> ssl.SSLContext:
    """A server-side TLS context with a certificate from ``ca`` for ``hostnames``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hostnames).configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A verifying client context that trusts ``ca``."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
