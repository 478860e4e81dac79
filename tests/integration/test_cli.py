"""The orq-async command line, run as a subprocess against the fake router."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from orq_async import AsyncOrq, __version__
from orq_async.testing import FakeOrqServer

from ..conftest import API_KEY
from ..internals import cli_parser

#: The demo's text: two whole sentences of the fake router's paragraph.
DEMO_TEXT = (
    "This is a fake completion from the fake Orq router. It streams one word at"
    " a time, so you can watch the tokens arrive."
)
#: The CLI's demo with ``import uvloop`` failing.
WITHOUT_UVLOOP = """
import runpy
import sys
sys.modules["uvloop"] = None
sys.argv = ["orq-async", "demo", "-n", "2"]
runpy.run_module("orq_async", run_name="__main__")
"""
SGR = re.compile(rb"\x1b\[[0-9;]*m")


def _env(key: str | None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ORQ_") and k not in ("NO_COLOR", "TERM")
    }
    if key is not None:
        env["ORQ_API_KEY"] = key
    return env | extra


def _run(
    *args: str,
    key: str | None = API_KEY,
    timeout: float = 30,
    input: str | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orq_async", *args],
        capture_output=True,
        text=True,
        env=_env(key),
        timeout=timeout,
        check=False,
        input=input,
        stdin=None if input is not None else stdin,
    )


def _run_on_terminal(
    *args: str,
    columns: int = 40,
    stdout_on_terminal: bool = True,
    key: str | None = API_KEY,
    **env: str,
) -> tuple[int, bytes, bytes]:
    """Run the CLI with stdin, stderr (and stdout) on a pseudo-terminal
    ``columns`` wide; returns the exit code, the terminal's bytes and stdout's
    bytes when stdout was a pipe."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    with subprocess.Popen(
        [sys.executable, "-m", "orq_async", *args],
        stdin=terminal,
        stdout=terminal if stdout_on_terminal else subprocess.PIPE,
        stderr=terminal,
        env=_env(key, **env),
    ) as proc:
        os.close(terminal)
        shown = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if not ready:
                continue
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not data:
                break
            shown += data
        os.close(controller)
        piped = proc.stdout.read() if proc.stdout is not None else b""
        returncode = proc.wait(10)
    return returncode, shown, piped


def _screen(shown: bytes, columns: int) -> list[str]:
    """The rows a terminal ``columns`` wide shows after ``shown``: printable
    text, CR, LF, and the escapes the CLI uses (SGR, EL, CUU, CHA)."""
    rows: list[list[str]] = [[]]
    row = column = 0
    pattern = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])|(.)", re.DOTALL)
    for match in pattern.finditer(shown.decode()):
        number, escape, char = match.groups()
        if escape == "m":
            continue
        if escape == "K":
            del rows[row][column:]
        elif escape == "A":
            row -= int(number or 1)
            column = min(column, columns - 1)
        elif escape == "G":
            column = int(number or 1) - 1
        elif escape:
            raise AssertionError(f"unexpected escape {match.group()!r}")
        elif char == "\r":
            column = 0
        elif char == "\n":
            row += 1
        else:
            if column == columns:  # the pending wrap
                row, column = row + 1, 0
            rows.extend([] for _ in range(row + 1 - len(rows)))
            line = rows[row]
            line.extend(" " * (column + 1 - len(line)))
            line[column] = char
            column += 1
        rows.extend([] for _ in range(row + 1 - len(rows)))
    return ["".join(r).rstrip() for r in rows]


def _wrapped(text: str, columns: int) -> list[str]:
    return [text[i : i + columns].rstrip() for i in range(0, len(text), columns)]


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


@pytest.mark.parametrize(
    "content",
    [pytest.param(b"\xff\xfe", id="binary"), pytest.param(b"a\nb\n", id="two-lines")],
)
def test_cli_bad_key_file_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    proc = _run(
        "complete",
        "hi",
        "--api-key-file",
        str(key_file),
        "--server-url",
        "http://127.0.0.1:9",
        key=None,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_no_stream_stats_show_the_request_id(
    threaded_server: FakeOrqServer, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY)
    proc = _run(
        "complete",
        "hi",
        "--api-key-file",
        str(key_file),
        "--server-url",
        threaded_server.url,
        "--no-stream",
        "--stats",
        "--max-tokens",
        "2",
        key=None,
    )
    assert proc.returncode == 0, proc.stderr
    assert "request id req-cmpl-fake-" in proc.stderr


def test_cli_closed_stdout_pipe_exits_quietly(
    slow_threaded_server: FakeOrqServer, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orq_async",
            "complete",
            "hi",
            "--api-key-file",
            str(key_file),
            "--server-url",
            slow_threaded_server.url,
            "--max-tokens",
            "40",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(None),
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(4)
        proc.stdout.close()  # the reader goes away, like `| head -c 4`
        err = proc.stderr.read()
        proc.wait(20)
    assert b"Traceback" not in err
    assert proc.returncode in (0, 1)


# -- the command line's surface ---------------------------------------------------


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    proc = _run(flag, key=None)

    assert proc.returncode == 0
    assert proc.stdout == f"orq-async {__version__}\n"


def _options() -> list[tuple[str, argparse.Action]]:
    parser = cli_parser()
    (commands,) = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    found = [("orq-async", a) for a in parser._actions if a is not commands]
    for name, sub in commands.choices.items():
        found += [(name, a) for a in sub._actions]
    return found


def test_every_option_has_help() -> None:
    missing = [
        (command, action.dest)
        for command, action in _options()
        if not action.help or action.help == argparse.SUPPRESS
    ]

    assert missing == []


@pytest.mark.parametrize("command", ["complete", "demo", "fake-server"])
def test_help_describes_every_option(command: str) -> None:
    proc = _run(command, "--help", key=None)

    assert proc.returncode == 0
    for name, action in _options():
        for option in action.option_strings if name == command else ():
            assert re.search(rf"{re.escape(option)}\b.*\n?\s+\S", proc.stdout), option


def test_short_options(threaded_server: FakeOrqServer) -> None:
    proc = _run(
        "complete",
        "Hello",
        *("-m", "openai/gpt-4o-mini", "-n", "3", "-t", "0.5"),
        *("-s", "\n", "-s", "END", "--server-url", threaded_server.url),
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "This is a\n"
    assert threaded_server.last_request.json == {
        "model": "openai/gpt-4o-mini",
        "prompt": "Hello",
        "max_tokens": 3,
        "temperature": 0.5,
        "stop": ["\n", "END"],
        "stream": True,
    }


@pytest.mark.parametrize(
    "dash", [pytest.param(["-"], id="dash"), pytest.param([], id="omitted")]
)
def test_prompt_from_piped_stdin(
    threaded_server: FakeOrqServer, dash: list[str]
) -> None:
    proc = _run(
        "complete",
        *dash,
        *("-n", "2", "--server-url", threaded_server.url),
        input="Summarize this:\nline two\n",
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "This is\n"
    assert threaded_server.last_request.json["prompt"] == "Summarize this:\nline two"


def test_empty_stdin_is_a_usage_error(threaded_server: FakeOrqServer) -> None:
    proc = _run("complete", "--server-url", threaded_server.url)

    assert proc.returncode == 2
    assert proc.stderr == "orq-async: the prompt read from stdin is empty\n"
    assert threaded_server.requests == []


def test_no_prompt_on_a_terminal_is_a_usage_error() -> None:
    returncode, shown, _ = _run_on_terminal("complete")

    assert returncode == 2
    assert b"no prompt: pass PROMPT, or pipe it on stdin" in shown


@pytest.mark.parametrize(
    "extra", [pytest.param([], id="stream"), pytest.param(["--no-stream"], id="whole")]
)
def test_choices_are_separated_and_labelled(
    threaded_server: FakeOrqServer, extra: list[str]
) -> None:
    proc = _run(
        "complete",
        "Hi",
        *("--n", "3", "-n", "4", "--server-url", threaded_server.url, *extra),
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "[choice 1 of 3]\nThis is a fake\n"
        "\n[choice 2 of 3]\nIt streams one word\n"
        "\n[choice 3 of 3]\nEvery chunk is a\n"
    )
    assert threaded_server.last_request.json["n"] == 3


@pytest.mark.parametrize(
    "extra", [pytest.param([], id="stream"), pytest.param(["--no-stream"], id="whole")]
)
def test_json_is_one_object_a_line_ending_with_a_newline(
    threaded_server: FakeOrqServer, extra: list[str]
) -> None:
    proc = _run(
        "complete",
        "Hi",
        *("--json", "--n", "2", "-n", "2", "--server-url", threaded_server.url, *extra),
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("}\n")
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    texts: dict[int, str] = {}
    for obj in objects:
        for choice in obj["choices"]:
            texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
    assert texts == {0: "This is", 1: "It streams"}


def test_no_stats_colour_or_escapes_off_a_terminal(
    threaded_server: FakeOrqServer,
) -> None:
    plain = _run("complete", "Hi", "-n", "3", "--server-url", threaded_server.url)
    stats = _run(
        "complete", "Hi", "-n", "3", "--stats", "--server-url", threaded_server.url
    )

    assert (plain.returncode, plain.stdout, plain.stderr) == (0, "This is a\n", "")
    assert stats.stdout == "This is a\n"
    assert stats.stderr.startswith("[orq-async] first token ")
    assert "\x1b" not in stats.stdout + stats.stderr


# -- on a terminal ------------------------------------------------------------------


def test_demo_on_a_terminal_has_colour_and_a_live_stats_line() -> None:
    returncode, shown, _ = _run_on_terminal("demo", "-n", "30", columns=40)

    assert returncode == 0
    assert SGR.search(shown)  # dim stats lines
    assert shown.count(b"tokens, ") > 3  # redrawn while the text streamed
    screen = _screen(shown, 40)
    text = "".join(_run("demo", "-n", "30", "-q").stdout.splitlines())
    start = screen.index(_wrapped(text, 40)[0])
    assert screen[start : start + len(_wrapped(text, 40))] == _wrapped(text, 40)
    after = screen[start + len(_wrapped(text, 40)) :]
    assert after[0].startswith("[orq-async] first token ")
    assert not any("tokens, " in row for row in screen)  # the live line is gone


def test_no_color_turns_colour_off_on_a_terminal() -> None:
    returncode, shown, _ = _run_on_terminal("demo", "-n", "8", NO_COLOR="1")

    assert returncode == 0
    assert not SGR.search(shown)
    assert b"first token" in shown


def test_live_stats_line_with_stdout_redirected() -> None:
    returncode, shown, piped = _run_on_terminal(
        "demo", "-n", "20", stdout_on_terminal=False
    )

    assert returncode == 0
    assert (
        piped.decode().startswith("This is a fake completion") and b"\x1b" not in piped
    )
    assert shown.count(b"\r\x1b[K[") > 1 or shown.count(b"\r\x1b[K\x1b[2m[") > 1
    screen = _screen(shown, 40)
    assert [row for row in screen if row.startswith("[orq-async] first token ")]
    assert not any("tokens, " in row for row in screen)  # the live line is gone


def test_errors_are_red_on_a_terminal(threaded_server: FakeOrqServer) -> None:
    returncode, shown, _ = _run_on_terminal(
        "complete", "Hi", "--server-url", threaded_server.url, key="wrong-key"
    )

    assert returncode == 1
    assert b"\x1b[31morq-async:\x1b[0m AuthenticationError" in shown


# -- the demo -----------------------------------------------------------------------


def test_demo_text_reads_like_text() -> None:
    proc = _run("demo", key=None)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEMO_TEXT + "\n"


def test_demo_runs_on_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop", reason="uvloop is in the dev extra")
    with_uvloop = _run("demo", "-n", "2", key=None)
    without = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_UVLOOP,
        ],
        capture_output=True,
        text=True,
        env=_env(None),
        timeout=30,
        check=False,
    )

    assert "(event loop: uvloop)" in with_uvloop.stderr
    assert "(event loop: asyncio)" in without.stderr
    assert with_uvloop.stdout == without.stdout == "This is\n"


def test_demo_quiet_prints_only_the_text() -> None:
    proc = _run("demo", "-q", "-n", "3", key=None)

    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "This is a\n", "")


def test_undecodable_piped_prompt_is_a_usage_error(
    threaded_server: FakeOrqServer,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orq_async", "complete", "--server-url"]
        + [threaded_server.url],
        input=b"\xff\xfe not UTF-8\n",
        capture_output=True,
        env=_env(API_KEY),
        timeout=30,
        check=False,
    )

    assert proc.returncode == 2
    assert proc.stderr.startswith(b"orq-async: ") and b"Traceback" not in proc.stderr
    assert threaded_server.requests == []
