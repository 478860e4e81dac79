"""A fake router on its own thread and loop, for blocking clients and subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orq_async.testing import FakeOrqServer, serve_in_thread

from ..conftest import API_KEY


@pytest.fixture
def threaded_server() -> Iterator[FakeOrqServer]:
    with serve_in_thread(FakeOrqServer(api_key=API_KEY)) as server:
        yield server


@pytest.fixture
def slow_threaded_server() -> Iterator[FakeOrqServer]:
    with serve_in_thread(FakeOrqServer(api_key=API_KEY, default_delay=0.1)) as server:
        yield server
