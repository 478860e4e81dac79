"""Shared fixtures: a real fake router on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orq_async import AsyncOrq, RetryPolicy
from orq_async.testing import FakeOrqServer

from .real_servers import private_ca, server_context

if TYPE_CHECKING:
    import trustme

#: The event loops every test that runs one is run on, by test id.
LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop
}
if sys.platform != "win32":  # uvloop is not built for Windows
    try:
        import uvloop
    except ImportError:  # pragma: no cover - depends on the machine
        raise pytest.UsageError(
            "uvloop is missing: the suite runs every async test on asyncio and on "
            "uvloop. Install the test dependencies: pip install -e '.[dev]'"
        ) from None
    LOOP_FACTORIES["uvloop"] = uvloop.new_event_loop

#: Directories whose synchronous tests start event loops themselves (the
#: blocking client's loop thread, threaded servers, asyncio.run).
_LOOP_DIRS = tuple(
    Path(__file__).parent / name for name in ("integration", "reliability")
)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every async test once per event loop implementation."""
    return LOOP_FACTORIES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Synchronous tests that start their own loops get the same two runs, through
    # the event loop policy that asyncio.run() and anyio consult.
    path = Path(metafunc.definition.path)
    if inspect.iscoroutinefunction(metafunc.function) or not any(
        path.is_relative_to(d) for d in _LOOP_DIRS
    ):
        return
    metafunc.fixturenames.append("loop_policy")
    metafunc.parametrize("loop_policy", list(LOOP_FACTORIES), indirect=True)


@pytest.fixture
def loop_policy(request: pytest.FixtureRequest) -> Iterator[str]:
    """Make new event loops (in this thread or any other) of the named kind."""
    name: str = request.param
    if name == "asyncio":
        yield name
        return
    with warnings.catch_warnings():
        # Loop policies are deprecated from Python 3.14 on; asyncio.run() and
        # anyio still use them when no loop factory is given.
        warnings.simplefilter("ignore", DeprecationWarning)
        old = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield name
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(old)


API_KEY = "sk-TEST-SECRET-123"

#: Retries with tiny waits, so retry tests run fast.
FAST_RETRIES = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05)


@pytest.fixture
async def server() -> AsyncIterator[FakeOrqServer]:
    async with FakeOrqServer(api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
async def client(server: FakeOrqServer) -> AsyncIterator[AsyncOrq]:
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, retries=FAST_RETRIES
    ) as orq:
        yield orq


@pytest.fixture
def ca() -> trustme.CA:
    """A private certificate authority no trust store knows."""
    return private_ca()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[FakeOrqServer]:
    """A fake router serving HTTPS with a certificate from :func:`ca` for 127.0.0.1."""
    context = server_context(ca, "127.0.0.1")
    async with FakeOrqServer(api_key=API_KEY, ssl_context=context) as server:
        yield server


@pytest.fixture
def no_unclosed_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if aiohttp reports a leaked session, connection or response
    (it does so through the loop's exception handler, that is a log)."""
    with caplog.at_level(logging.WARNING):
        yield
    unclosed = [r.getMessage() for r in caplog.records if "nclosed" in r.getMessage()]
    assert not unclosed, unclosed[:3]


@pytest.fixture
async def garbage_http_url() -> AsyncIterator[str]:
    """A loopback server answering every request with an unparsable HTTP head
    (aiohttp raises a ClientResponseError that carries the request headers)."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()
