"""``orq-async chat``, run as a subprocess against the fake router's chat route."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from orq_async.testing import FakeOrqServer, FakeResponse

from ..conftest import API_KEY
from .test_cli import _env, _options, _run, _run_on_terminal


def _frame(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _delta(finish_reason: str | None = None, **delta: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def test_chat_streams_the_conversation_with_parameters(
    threaded_server: FakeOrqServer,
) -> None:
    proc = _run(
        "chat",
        "What is my name?",
        *("--system", "Be brief.", "--message", "user=My name is Ann."),
        *("--message", "assistant=Hello Ann!", "-m", "openai/gpt-4o"),
        *("-n", "3", "-t", "0.5", "-s", "\n", "--top-p", "0.9", "--seed", "7"),
        *("--server-url", threaded_server.url),
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "This is a\n"
    assert threaded_server.last_request.path == "/v2/router/chat/completions"
    assert threaded_server.last_request.json == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "My name is Ann."},
            {"role": "assistant", "content": "Hello Ann!"},
            {"role": "user", "content": "What is my name?"},
        ],
        "model": "openai/gpt-4o",
        "max_completion_tokens": 3,
        "seed": 7,
        "stop": ["\n"],
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
        "top_p": 0.9,
        "stream": True,
    }


def test_chat_default_model_and_no_stream(threaded_server: FakeOrqServer) -> None:
    proc = _run(
        "chat", "Hi", "-n", "2", "--no-stream", "--server-url", threaded_server.url
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "This is\n"
    assert threaded_server.last_request.json == {
        "messages": [{"role": "user", "content": "Hi"}],
        "model": "openai/gpt-4o-mini",
        "max_completion_tokens": 2,
    }


def test_chat_stats_count_tokens_from_usage(threaded_server: FakeOrqServer) -> None:
    threaded_server.enqueue_chat(
        FakeResponse.chat_stream(
            ["Hel", "lo", "!"],
            usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            headers={"x-request-id": "req-chat-42"},
        )
    )

    proc = _run("chat", "Hi", "--stats", "--server-url", threaded_server.url)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello!\n"
    # The role, finish and usage-only chunks carry no text; usage says 2 tokens.
    assert re.fullmatch(
        r"\[orq-async\] first token \d+\.\d ms, 2 tokens in \d+\.\d{3} s "
        r"\(\d+\.\d tok/s\), request id req-chat-42\n",
        proc.stderr,
    ), proc.stderr


def test_chat_stats_count_text_chunks_without_usage(
    threaded_server: FakeOrqServer,
) -> None:
    threaded_server.enqueue_chat(FakeResponse.chat_stream(["a", "b", "c", "d"]))

    proc = _run("chat", "Hi", "--stats", "--server-url", threaded_server.url)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "abcd\n"
    assert ", 4 tokens in " in proc.stderr


def test_chat_prints_a_refusal_as_text(threaded_server: FakeOrqServer) -> None:
    threaded_server.enqueue_chat(
        FakeResponse.events_(
            [
                _frame(_delta(role="assistant", refusal="I can")),
                _frame(_delta("stop", refusal="not.")),
                b"data: [DONE]\n\n",
            ]
        )
    )

    proc = _run("chat", "Hi", "--server-url", threaded_server.url)

    assert (proc.returncode, proc.stdout) == (0, "I cannot.\n"), proc.stderr


@pytest.mark.parametrize(
    "dash", [pytest.param(["-"], id="dash"), pytest.param([], id="omitted")]
)
def test_chat_message_from_piped_stdin(
    threaded_server: FakeOrqServer, dash: list[str]
) -> None:
    proc = _run(
        "chat",
        *dash,
        *("--system", "Review this.", "-n", "2", "--server-url", threaded_server.url),
        input="diff --git a/x b/x\n+line\n",
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "This is\n"
    assert threaded_server.last_request.json["messages"] == [
        {"role": "system", "content": "Review this."},
        {"role": "user", "content": "diff --git a/x b/x\n+line"},
    ]


def test_chat_with_messages_only_leaves_stdin_alone(
    threaded_server: FakeOrqServer,
) -> None:
    proc = _run(
        "chat",
        *("--message", "user=Hi=there", "-n", "1"),
        *("--server-url", threaded_server.url),
        input="not part of the conversation",
    )

    assert proc.returncode == 0, proc.stderr
    assert threaded_server.last_request.json["messages"] == [
        {"role": "user", "content": "Hi=there"}
    ]


@pytest.mark.parametrize(
    "option",
    [
        pytest.param("bogus=x", id="unknown-role"),
        pytest.param("tool=x", id="tool-role"),
        pytest.param("user", id="no-equals"),
    ],
)
def test_chat_bad_message_option_is_a_usage_error(
    threaded_server: FakeOrqServer, option: str
) -> None:
    proc = _run("chat", "--message", option, "--server-url", threaded_server.url)

    assert proc.returncode == 2
    assert proc.stderr == (
        "orq-async: --message wants ROLE=TEXT with ROLE one of system, developer, "
        f"user, assistant; got {option!r}\n"
    )
    assert threaded_server.requests == []


def test_chat_system_alone_reads_stdin_and_needs_it(
    threaded_server: FakeOrqServer,
) -> None:
    proc = _run("chat", "--system", "Be brief.", "--server-url", threaded_server.url)

    assert proc.returncode == 2
    assert proc.stderr == "orq-async: the prompt read from stdin is empty\n"
    assert threaded_server.requests == []


def test_chat_no_message_on_a_terminal_is_a_usage_error() -> None:
    returncode, shown, _ = _run_on_terminal("chat")

    assert returncode == 2
    assert b"no prompt: pass PROMPT, or pipe it on stdin" in shown


def test_chat_invalid_parameter_is_a_usage_error_before_any_request(
    threaded_server: FakeOrqServer,
) -> None:
    proc = _run("chat", "Hi", "--temperature", "7", "--server-url", threaded_server.url)

    assert proc.returncode == 2
    assert "temperature" in proc.stderr and "Traceback" not in proc.stderr
    assert threaded_server.requests == []


def test_chat_api_error_is_one_line_exit_1(threaded_server: FakeOrqServer) -> None:
    proc = _run("chat", "Hi", "--server-url", threaded_server.url, key="wrong-key")

    assert proc.returncode == 1
    assert "AuthenticationError" in proc.stderr and "401" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "wrong-key" not in proc.stderr


def test_chat_stream_error_is_one_line_exit_1(threaded_server: FakeOrqServer) -> None:
    threaded_server.enqueue_chat(
        FakeResponse.events_(
            [
                _frame(_delta(content="Hi")),
                _frame({"error": {"message": "provider overloaded"}}),
            ]
        )
    )

    proc = _run("chat", "Hi", "--server-url", threaded_server.url)

    assert proc.returncode == 1
    assert proc.stdout == "Hi\n"
    assert "StreamAPIError" in proc.stderr and "provider overloaded" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "extra", [pytest.param([], id="stream"), pytest.param(["--no-stream"], id="whole")]
)
def test_chat_choices_are_separated_and_labelled(
    threaded_server: FakeOrqServer, extra: list[str]
) -> None:
    proc = _run(
        "chat",
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


def test_chat_json_streams_every_chunk_a_line(threaded_server: FakeOrqServer) -> None:
    proc = _run(
        "chat",
        "Hi",
        *("--json", "--n", "2", "-n", "2", "--server-url", threaded_server.url),
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("}\n")
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(o["object"] == "chat.completion.chunk" for o in objects)
    texts: dict[int, str] = {}
    for obj in objects:
        for choice in obj["choices"]:
            content = choice["delta"]["content"] or ""
            texts[choice["index"]] = texts.get(choice["index"], "") + content
    assert texts == {0: "This is", 1: "It streams"}
    assert objects[-1]["choices"] == []
    assert objects[-1]["usage"]["completion_tokens"] == 4


def test_chat_json_no_stream_is_the_completion(threaded_server: FakeOrqServer) -> None:
    proc = _run(
        "chat",
        *("Hi", "--json", "--no-stream", "-n", "2"),
        *("--server-url", threaded_server.url),
    )

    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    completion = json.loads(line)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == "This is"


def test_chat_help_describes_every_option() -> None:
    proc = _run("chat", "--help", key=None)

    assert proc.returncode == 0
    options = [o for name, a in _options() if name == "chat" for o in a.option_strings]
    assert {"--system", "--message", "--model", "--no-stream"} <= set(options)
    for option in options:
        assert re.search(rf"{re.escape(option)}\b.*\n?\s+\S", proc.stdout), option


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_chat_ctrl_c_exits_130_and_closes_the_connection(
    slow_threaded_server: FakeOrqServer,
) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "orq_async", "chat", "Hi", "-n", "100"]
        + ["--server-url", slow_threaded_server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(API_KEY),
    ) as proc:
        try:
            assert proc.stdout is not None
            proc.stdout.read(4)  # the first text arrived
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            proc.kill()

    assert b"interrupted" in err and b"Traceback" not in err
    assert proc.returncode == 130
    deadline = time.monotonic() + 3
    while not slow_threaded_server.disconnects and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow_threaded_server.disconnects
