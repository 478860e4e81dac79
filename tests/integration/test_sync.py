"""The blocking facade ``orq_async.Orq`` over the async core."""

from __future__ import annotations

import _thread
import signal
import threading
import time

import pytest

from orq_async import (
    AuthenticationError,
    ClientClosedError,
    Completion,
    Orq,
    Stream,
    StreamConsumedError,
)
from orq_async.testing import FakeOrqServer

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
