"""The pytest plugin, run by pytest itself on users' test files (``pytester``).

Each case writes test files into a fresh directory and runs pytest on them in a
subprocess, which finds the plugin through its entry point as a user's pytest
would: in pytest-asyncio's strict and auto modes, and on uvloop.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOCS = Path(__file__).parents[2] / "docs" / "testing.md"

#: Every fixture, from sync and async tests, on any loop.
FIXTURES_TESTS = """
import asyncio

import pytest

from orq_async import AsyncOrq, Orq
from orq_async.pytest_plugin import ORQ_TEST_API_KEY
from orq_async.testing import FakeOrqServer, FakeResponse


@pytest.mark.asyncio
async def test_client_reaches_the_function_server(
    orq_server: FakeOrqServer, orq_client: AsyncOrq
) -> None:
    orq_server.enqueue(FakeResponse.error(503), FakeResponse.completion("hi"))
    res = await orq_client.router.completions.create(model="m", prompt="p")
    assert res.choices[0].text == "hi"
    assert len(orq_server.requests) == 2
    assert orq_server.last_request.headers["Authorization"] == (
        f"Bearer {ORQ_TEST_API_KEY}"
    )


@pytest.mark.asyncio
async def test_each_test_gets_a_fresh_server(orq_server: FakeOrqServer) -> None:
    assert orq_server.requests == []


@pytest.mark.asyncio
async def test_stream_from_the_function_server(orq_client: AsyncOrq) -> None:
    stream = await orq_client.router.completions.create(
        model="m", prompt="p", max_tokens=3, stream=True
    )
    async with stream:
        assert await stream.text() == "This is a"


def test_sync_client_on_the_session_server(
    orq_session_server: FakeOrqServer, orq_sync_client: Orq
) -> None:
    orq_session_server.clear()
    res = orq_sync_client.router.completions.create(model="m", prompt="p", max_tokens=2)
    assert res.choices[0].text == "This is"
    assert orq_session_server.request_count == 1


@pytest.mark.asyncio
async def test_session_server_from_an_async_test(
    orq_session_server: FakeOrqServer,
) -> None:
    async with AsyncOrq(
        api_key=ORQ_TEST_API_KEY, server_url=orq_session_server.url
    ) as orq:
        res = await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    assert res.choices[0].text == "This"


@pytest.mark.asyncio
async def test_the_loop(orq_server: FakeOrqServer) -> None:
    print("loop:", type(asyncio.get_running_loop()).__module__)
"""


def docs_example(name: str) -> str:
    """The ```python block of docs/testing.md that starts with ``# <name>``."""
    blocks: list[str] = re.findall(
        r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL
    )
    (block,) = [b for b in blocks if b.startswith(f"# {name}\n")]
    return block


def uvloop_conftest() -> str:
    """The documented conftest.py that runs async tests on uvloop."""
    return docs_example("conftest.py")


def write_ini(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini(
        f"""
        [pytest]
        asyncio_mode = {mode}
        asyncio_default_fixture_loop_scope = function
        asyncio_default_test_loop_scope = function
        filterwarnings = error
        """
    )


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_fixtures_in_both_modes(pytester: pytest.Pytester, mode: str) -> None:
    write_ini(pytester, mode)
    pytester.makepyfile(test_fixtures=FIXTURES_TESTS)

    result = pytester.runpytest_subprocess("-s")

    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*loop: asyncio*"])


def test_fixtures_on_uvloop(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "strict")
    pytester.makeconftest(uvloop_conftest())
    pytester.makepyfile(test_fixtures=FIXTURES_TESTS)

    result = pytester.runpytest_subprocess("-s")

    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*loop: uvloop*"])


@pytest.mark.parametrize(
    ("mode", "uvloop"),
    [
        pytest.param("strict", False, id="strict"),
        pytest.param("auto", False, id="auto"),
        pytest.param("strict", True, id="strict-uvloop"),
    ],
)
def test_the_documented_example_passes(
    pytester: pytest.Pytester, mode: str, uvloop: bool
) -> None:
    write_ini(pytester, mode)
    if uvloop:
        pytester.makeconftest(uvloop_conftest())
    pytester.makepyfile(
        test_summaries=docs_example("test_summaries.py"),
        test_blocking=docs_example("test_blocking.py"),
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=5)


def test_a_failing_user_test_fails(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "auto")
    pytester.makepyfile(
        """
        from orq_async.testing import FakeResponse

        async def test_wrong(orq_server, orq_client):
            orq_server.enqueue(FakeResponse.completion("no"))
            res = await orq_client.router.completions.create(model="m", prompt="p")
            assert res.choices[0].text == "yes"
        """
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(failed=1)


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "auto")
    pytester.makepyfile("async def test_x(orq_server): pass")

    result = pytester.runpytest_subprocess("-p", "no:orq_async")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'orq_server' not found*"])


def test_importing_the_plugin_starts_nothing() -> None:
    code = (
        "import sys, threading, orq_async.pytest_plugin;"
        "print(sorted(m for m in ('aiohttp.web', 'orq_async.testing', 'uvloop')"
        " if m in sys.modules), threading.active_count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert out.split() == ["[]", "1"]
