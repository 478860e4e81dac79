"""Shared fixtures: a real fake router on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

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
