"""The blocking facade ``orq_async.Orq`` over the async core."""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time

import pytest

from orq_async import (
    AuthenticationError,
    ClientClosedError,
    Completion,
    IncompleteStreamError,
    Orq,
    Stream,
    StreamConsumedError,
    SyncChatStream,
)
from orq_async.testing import FakeOrqServer, FakeResponse

from ..conftest import API_KEY


def _wait_for(predicate: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_official_docs_example_stream_false(threaded_server: FakeOrqServer) -> None:
    with Orq(api_key=API_KEY, server_url=threaded_server.url) as orq:
        res = orq.router.completions.create(
            model="openai/gpt-3.5-turbo-instruct",
            prompt="Say hi",
            max_tokens=3,
            cache={"ttl": 3600, "type": "exact_match"},
            retry={"on_codes": [429, 500]},
        )
    assert isinstance(res, Completion)
    assert res.choices[0].text == "This is a"
    assert threaded_server.last_request.json["cache"] == {
        "ttl": 3600,
        "type": "exact_match",
    }


def test_official_docs_example_stream_true(threaded_server: FakeOrqServer) -> None:
    texts = []
    with Orq(api_key=API_KEY, server_url=threaded_server.url) as orq:
        res = orq.router.completions.create(
            model="openai/gpt-3.5-turbo-instruct",
            prompt="Hi",
            max_tokens=4,
            stream=True,
        )
        assert isinstance(res, Stream)
        with res as event_stream:
            for event in event_stream:
                texts.append(event.choices[0].text)  # noqa: PERF401 - the docs shape
    assert texts == ["This", " is", " a", " fake"]


def test_break_releases_the_connection(slow_threaded_server: FakeOrqServer) -> None:
    with Orq(api_key=API_KEY, server_url=slow_threaded_server.url) as orq:
        stream = orq.router.completions.create(
            model="m", prompt="p", max_tokens=50, stream=True
        )
        for _ in stream:
            break
        del stream
        assert _wait_for(lambda: slow_threaded_server.disconnects)


def test_close_releases_the_connection(slow_threaded_server: FakeOrqServer) -> None:
    with Orq(api_key=API_KEY, server_url=slow_threaded_server.url) as orq:
        stream = orq.router.completions.create(
            model="m", prompt="p", max_tokens=50, stream=True
        )
        next(stream)
        stream.close()
        assert _wait_for(lambda: slow_threaded_server.disconnects)
        with pytest.raises(StreamConsumedError):
            next(stream)


def test_client_close_releases_open_streams(
    slow_threaded_server: FakeOrqServer,
) -> None:
    orq = Orq(api_key=API_KEY, server_url=slow_threaded_server.url)
    stream = orq.router.completions.create(
        model="m", prompt="p", max_tokens=50, stream=True
    )
    next(stream)
    orq.close()
    assert _wait_for(lambda: slow_threaded_server.disconnects)
    with pytest.raises(ClientClosedError):
        orq.router.completions.create(model="m", prompt="p")


@pytest.mark.parametrize("how", ["sigint", "interrupt_main"])
def test_keyboard_interrupt_cancels_and_releases(
    slow_threaded_server: FakeOrqServer, how: str
) -> None:
    main = threading.get_ident()
    assert main == threading.main_thread().ident
    with Orq(api_key=API_KEY, server_url=slow_threaded_server.url) as orq:
        stream = orq.router.completions.create(
            model="m", prompt="p", max_tokens=50, stream=True
        )
        # A real SIGINT interrupts the wait for a chunk; interrupt_main() only
        # lands between two calls. Both must release the connection.
        if how == "sigint":
            timer = threading.Timer(0.35, signal.pthread_kill, (main, signal.SIGINT))
        else:
            timer = threading.Timer(0.35, _thread.interrupt_main)
        timer.start()
        received = 0
        with pytest.raises(KeyboardInterrupt):
            for _ in stream:
                received += 1
        timer.join()
        assert 0 < received < 50
        assert _wait_for(lambda: slow_threaded_server.disconnects)


def test_errors_are_the_same_types(threaded_server: FakeOrqServer) -> None:
    with (
        Orq(api_key="wrong-key", server_url=threaded_server.url) as orq,
        pytest.raises(AuthenticationError),
    ):
        orq.router.completions.create(model="m", prompt="p", retries=0)


def test_no_thread_left_after_close(threaded_server: FakeOrqServer) -> None:
    before = threading.active_count()
    with Orq(api_key=API_KEY, server_url=threaded_server.url) as orq:
        orq.router.completions.create(model="m", prompt="p", max_tokens=1)
        assert threading.active_count() == before + 1
    assert threading.active_count() == before
    assert repr(orq) == f"Orq(server_url={threaded_server.url!r})"


def test_sync_stream_after_close_raises_client_closed(
    slow_threaded_server: FakeOrqServer,
) -> None:
    orq = Orq(api_key=API_KEY, server_url=slow_threaded_server.url)
    stream = orq.router.completions.create(
        model="m", prompt="p", max_tokens=20, stream=True
    )
    next(stream)
    assert stream.metrics.chunks == 1 and stream.attempts == 1
    assert stream.partial_text == "This"
    assert orq.pool_stats().in_use == 1
    orq.close()
    with pytest.raises(ClientClosedError):
        next(stream)
    with pytest.raises(ClientClosedError):
        orq.router.completions.create(model="m", prompt="p")


# -- chat completions ------------------------------------------------------------


def _official_chat_example(stream: bool) -> None:
    """The official SDK's documented chat example, verbatim but for ``stream``
    and the import."""
    with Orq(
        api_key=os.getenv("ORQ_API_KEY", ""),
    ) as orq:
        res = orq.router.chat.completions.create(
            messages=[],
            model="Model 3",
            fallbacks=[
                {
                    "model": "openai/gpt-4o-mini",
                },
            ],
            retry={
                "on_codes": [
                    429,
                    500,
                    502,
                    503,
                    504,
                ],
            },
            cache={
                "ttl": 3600,
                "type": "exact_match",
            },
            load_balancer={
                "type": "weight_based",
                "models": [
                    {
                        "model": "openai/gpt-4o",
                        "weight": 0.7,
                    },
                ],
            },
            timeout={
                "call_timeout": 30000,
            },
            stream=stream,
        )

        with res as event_stream:
            for event in event_stream:
                # handle event
                print(event, flush=True)


@pytest.mark.parametrize("stream", [False, True])
def test_official_chat_docs_example_runs_unchanged(
    threaded_server: FakeOrqServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stream: bool,
) -> None:
    monkeypatch.setenv("ORQ_API_KEY", API_KEY)
    monkeypatch.setenv("ORQ_SERVER_URL", threaded_server.url)

    _official_chat_example(stream)

    printed = capsys.readouterr().out
    body = threaded_server.last_request.json
    assert threaded_server.last_request.path == "/v2/router/chat/completions"
    assert body["messages"] == []
    assert body["timeout"] == {"call_timeout": 30000}
    assert body["stream"] is stream
    if stream:
        assert printed.count("ChatCompletionChunk(") == 16 + 2
    else:
        assert printed.count("ChatCompletion(") == 1
        assert "This is a fake completion" in printed


def test_chat_stream_text_and_final_completion(
    threaded_server: FakeOrqServer,
) -> None:
    threaded_server.enqueue_chat(
        FakeResponse.chat_stream(["Hel", "lo"]),
        FakeResponse.chat_stream(
            [], tool_calls=[{"name": "f", "arguments": '{"a": 1}'}]
        ),
    )
    with Orq(api_key=API_KEY, server_url=threaded_server.url) as orq:
        messages = [{"role": "user", "content": "Hi"}]
        with orq.router.chat.completions.create(
            messages=messages, model="m", stream=True
        ) as stream:
            assert isinstance(stream, SyncChatStream)
            assert list(stream.iter_text()) == ["Hel", "lo"]
            assert stream.partial_completion.choices[0].message.content == "Hello"
        calls = (
            orq.router.chat.completions.create(
                messages=messages, model="m", stream=True
            )
            .final_completion()
            .choices[0]
            .message.tool_calls
        )
    assert calls is not None
    assert calls[0].parse_arguments() == {"a": 1}


def test_a_failing_sync_chat_stream_raises_and_releases(
    threaded_server: FakeOrqServer,
) -> None:
    threaded_server.enqueue_chat(
        FakeResponse.chat_stream(["a"], finish_reason=None, done=False),
        FakeResponse.chat_stream(["a", "b"], finish_reason=None, done=False),
    )
    with Orq(api_key=API_KEY, server_url=threaded_server.url) as orq:
        messages = [{"role": "user", "content": "Hi"}]
        stream = orq.router.chat.completions.create(
            messages=messages, model="m", stream=True
        )
        with pytest.raises(IncompleteStreamError) as info:
            stream.final_completion()
        assert info.value.partial_text == "a"
        texts = orq.router.chat.completions.create(
            messages=messages, model="m", stream=True
        ).iter_text()
        assert next(texts) == "a"
        with pytest.raises(IncompleteStreamError):
            list(texts)
        assert orq.pool_stats().in_use == 0
