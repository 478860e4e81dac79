"""The suite itself: every async test runs on asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import sys

import pytest

from orq_async.testing import FakeOrqServer


async def test_async_tests_run_on_each_event_loop(
    request: pytest.FixtureRequest,
) -> None:
    kind = request.node.callspec.id
    loop = asyncio.get_running_loop()

    assert kind in ("asyncio", "uvloop")
    assert type(loop).__module__.startswith("uvloop") == (kind == "uvloop")


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not built for Windows")
def test_both_loops_are_configured() -> None:
    from ..conftest import LOOP_FACTORIES

    assert set(LOOP_FACTORIES) == {"asyncio", "uvloop"}


async def test_the_fake_router_reports_its_real_port() -> None:
    async with FakeOrqServer() as server:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
