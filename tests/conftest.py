"""Shared fixtures: a real fake router on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orq_async import AsyncOrq, RetryPolicy
from orq_async.testing import FakeOrqServer

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
