"""A fake router on its own thread and loop, for blocking clients and subprocesses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from orq_async.testing import FakeOrqServer

from ..conftest import API_KEY


class ThreadedServer:
    """FakeOrqServer running on a daemon thread's event loop."""

    def __init__(self, **options: object) -> None:
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.server: FakeOrqServer | None = None
        self._options = options
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with FakeOrqServer(**self._options) as server:  # type: ignore[arg-type]
                self.server = server
                self._ready.set()
                await self._stop.wait()

        asyncio.run(main())

    def __enter__(self) -> FakeOrqServer:
        self._thread.start()
        self._ready.wait(10)
        assert self.server is not None
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def threaded_server() -> Iterator[FakeOrqServer]:
    with ThreadedServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def slow_threaded_server() -> Iterator[FakeOrqServer]:
    with ThreadedServer(api_key=API_KEY, default_delay=0.1) as server:
        yield server
