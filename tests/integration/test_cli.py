"""The orq-async command line, run as a subprocess against the fake router."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orq_async import AsyncOrq
from orq_async.testing import FakeOrqServer

from ..conftest import API_KEY


def _run(
    *args: str, key: str | None = API_KEY, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORQ_")}
    if key is not None:
        env["ORQ_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "orq_async", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_demo_is_the_readme_main_job() -> None:
    proc = _run("demo", "--max-tokens", "6", key=None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "This is a fake completion from"
    assert "first token" in proc.stderr and "6 tokens" in proc.stderr


def test_complete_streams_with_parameters(threaded_server: FakeOrqServer) -> None:
    proc = _run(
        "complete",
        "Hello",
        "--model",
        "openai/gpt-3.5-turbo-instruct",
        "--server-url",
        threaded_server.url,
        "--max-tokens",
        "3",
        "--temperature",
        "0.5",
        "--stop",
        "\n",
        "--stats",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "This is a\n"
    assert "3 tokens" in proc.stderr and "request id" in proc.stderr
    assert threaded_server.last_request.json == {
        "model": "openai/gpt-3.5-turbo-instruct",
        "prompt": "Hello",
        "max_tokens": 3,
        "temperature": 0.5,
        "stop": ["\n"],
        "stream": True,
    }


def test_complete_no_stream_and_json(threaded_server: FakeOrqServer) -> None:
    proc = _run(
        "complete",
        "Hi",
        "--server-url",
        threaded_server.url,
        "--max-tokens",
        "2",
        "--no-stream",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "This is\n"
    proc = _run(
        "complete",
        "Hi",
        "--server-url",
        threaded_server.url,
        "--max-tokens",
        "2",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [c["choices"][0]["text"] for c in lines] == ["This", " is"]


def test_api_key_file(threaded_server: FakeOrqServer, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    proc = _run(
        "complete",
        "Hi",
        "--server-url",
        threaded_server.url,
        "--max-tokens",
        "1",
        "--api-key-file",
        str(key_file),
        key=None,
    )
    assert proc.returncode == 0, proc.stderr


def test_missing_key_is_a_usage_error() -> None:
    proc = _run("complete", "Hi", key=None)
    assert proc.returncode == 2
    assert "ORQ_API_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_api_error_is_one_line_exit_1(threaded_server: FakeOrqServer) -> None:
    proc = _run("complete", "Hi", "--server-url", threaded_server.url, key="wrong-key")
    assert proc.returncode == 1
    assert "AuthenticationError" in proc.stderr and "401" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "wrong-key" not in proc.stderr


def test_network_error_exit_1() -> None:
    proc = _run("complete", "Hi", "--server-url", "http://127.0.0.1:9")
    assert proc.returncode == 1
    assert "APIConnectionError" in proc.stderr


def test_bad_argument_exit_2(threaded_server: FakeOrqServer) -> None:
    proc = _run(
        "complete", "Hi", "--server-url", threaded_server.url, "--temperature", "7"
    )
    assert proc.returncode == 2
    assert "temperature" in proc.stderr
    assert threaded_server.requests == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_and_closes_the_connection(
    slow_threaded_server: FakeOrqServer,
) -> None:
    env = dict(os.environ, ORQ_API_KEY=API_KEY)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orq_async",
            "complete",
            "Hi",
            "--max-tokens",
            "100",
            "--server-url",
            slow_threaded_server.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            proc.stdout.read(4)  # the first token arrived
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            proc.kill()
    assert b"interrupted" in err
    assert b"Traceback" not in err
    assert proc.returncode == 130
    deadline = time.monotonic() + 3
    while not slow_threaded_server.disconnects and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow_threaded_server.disconnects


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["-m", "orq_async.testing"], id="python-m-orq_async.testing"),
        pytest.param(["-m", "orq_async", "fake-server"], id="orq-async-fake-server"),
    ],
)
def test_fake_router_runs_stand_alone(argv: list[str]) -> None:
    with subprocess.Popen(
        [sys.executable, *argv, "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "listening on http://127.0.0.1:" in line, line
            url = line.split()[-1]
            assert not url.endswith(":0")

            async def use() -> str:
                async with AsyncOrq(api_key="k", server_url=url) as orq:
                    res = await orq.router.completions.create(
                        model="m", prompt="p", max_tokens=2
                    )
                return res.choices[0].text

            assert asyncio.run(use()) == "This is"
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=10)
        finally:
            proc.kill()
    assert proc.returncode in (0, 130)
