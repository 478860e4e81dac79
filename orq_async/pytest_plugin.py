"""pytest fixtures for testing code that uses ``orq_async``, against the fake router.

Installing ``orq-async`` registers this plugin with pytest (entry point
``pytest11``), so the fixtures are there in every test, with nothing to import:

``orq_server``
    A started :class:`~orq_async.testing.FakeOrqServer` on the test's own event
    loop, fresh for each test (async tests).
``orq_client``
    An :class:`~orq_async.AsyncOrq` pointed at ``orq_server``, with retry waits
    of a few milliseconds.
``orq_session_server``
    One :class:`~orq_async.testing.FakeOrqServer` for the whole session, on its
    own thread and event loop: any test can use it, sync or async, on any loop.
    It is shared, so call its ``clear()`` where a test needs an empty script and
    request log.
``orq_sync_client``
    An :class:`~orq_async.Orq` (the blocking client) pointed at
    ``orq_session_server``, for sync tests.

The async fixtures need pytest-asyncio (strict or auto mode). Both servers
require the key :data:`ORQ_TEST_API_KEY`, which the clients send. Disable the
plugin with ``-p no:orq_async``.

Importing this module imports only pytest: the client, the server and their
event loops are made when a test asks for a fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._client import AsyncOrq
    from ._retry import RetryPolicy
    from ._sync import Orq
    from .testing import FakeOrqServer

__all__ = [
    "ORQ_TEST_API_KEY",
    "orq_client",
    "orq_server",
    "orq_session_server",
    "orq_sync_client",
]

#: The API key both fake routers require and both client fixtures send.
ORQ_TEST_API_KEY = "sk-orq-test-key"


def _fast_retries() -> RetryPolicy:
    """The default number of retries, with waits short enough for a test."""
    from ._retry import RetryPolicy

    return RetryPolicy(initial_delay=0.001, max_delay=0.01)


def _async_fixture(func: Callable[..., Any]) -> Any:
    """``pytest_asyncio.fixture`` (which strict and auto mode both accept), or,
    without pytest-asyncio, a fixture that says what to install."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - pytest-asyncio is in the dev extra

        def missing() -> None:
            pytest.fail(
                f"the {func.__name__} fixture needs pytest-asyncio: "
                "pip install pytest-asyncio",
                pytrace=False,
            )

        missing.__doc__ = func.__doc__
        return pytest.fixture(name=func.__name__)(missing)
    return pytest_asyncio.fixture(func)


@_async_fixture
async def orq_server() -> AsyncIterator[FakeOrqServer]:
    """A started fake router on the test's event loop, closed after the test."""
    from .testing import FakeOrqServer

    async with FakeOrqServer(api_key=ORQ_TEST_API_KEY) as server:
        yield server


@_async_fixture
async def orq_client(orq_server: FakeOrqServer) -> AsyncIterator[AsyncOrq]:
    """An :class:`~orq_async.AsyncOrq` pointed at ``orq_server``, closed after
    the test."""
    from ._client import AsyncOrq

    async with AsyncOrq(
        api_key=ORQ_TEST_API_KEY, server_url=orq_server.url, retries=_fast_retries()
    ) as client:
        yield client


@pytest.fixture(scope="session")
def orq_session_server() -> Iterator[FakeOrqServer]:
    """One fake router for the session, on its own thread and event loop."""
    from .testing import FakeOrqServer, serve_in_thread

    with serve_in_thread(FakeOrqServer(api_key=ORQ_TEST_API_KEY)) as server:
        yield server


@pytest.fixture
def orq_sync_client(orq_session_server: FakeOrqServer) -> Iterator[Orq]:
    """A blocking :class:`~orq_async.Orq` pointed at ``orq_session_server``,
    closed after the test."""
    from ._sync import Orq

    with Orq(
        api_key=ORQ_TEST_API_KEY,
        server_url=orq_session_server.url,
        retries=_fast_retries(),
    ) as client:
        yield client
