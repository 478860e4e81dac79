"""Hooks, logging, metrics, and the API key staying secret everywhere."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback

import pytest

from orq_async import (
    APIError,
    AsyncOrq,
    ChunkEvent,
    Hooks,
    IncompleteStreamError,
    OrqError,
    RequestEvent,
    ResponseDecodeError,
    ResponseEvent,
    RetryEvent,
    StreamConnectionError,
    UnexpectedContentTypeError,
)
from orq_async.testing import FakeOrqServer, FakeResponse

from ..conftest import API_KEY, FAST_RETRIES

SECRET_PROMPT = "my-very-private-prompt-text"


def _no_key(text: str) -> None:
    assert API_KEY not in text
    assert API_KEY[3:] not in text  # not even without its prefix


async def test_hooks_see_requests_responses_retries_and_errors(
    server: FakeOrqServer,
) -> None:
    seen: list[object] = []

    async def record(event: object) -> None:
        seen.append(event)

    hooks = Hooks(
        on_request=record, on_response=record, on_retry=record, on_error=record
    )
    server.enqueue(
        FakeResponse.error(429, "slow", headers={"retry-after-ms": "10"}),
        FakeResponse.completion("ok", headers={"x-request-id": "req-1"}),
        FakeResponse.error(400, "bad", headers={"x-request-id": "req-2"}),
    )
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, hooks=hooks, retries=FAST_RETRIES
    ) as orq:
        await orq.router.completions.create(model="m", prompt="p")
        with pytest.raises(APIError):
            await orq.router.completions.create(model="m", prompt="p")

    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "RequestEvent",
        "ResponseEvent",
        "RetryEvent",
        "RequestEvent",
        "ResponseEvent",
        "RequestEvent",
        "ResponseEvent",
        "BadRequestError",
    ]
    first, retry, second = seen[0], seen[2], seen[4]
    assert isinstance(first, RequestEvent) and first.attempt == 1
    assert first.url == server.url + "/v2/router/completions"
    assert isinstance(retry, RetryEvent)
    assert retry.attempt == 2 and retry.delay == pytest.approx(0.01)
    assert "RateLimitError" in retry.reason and "Retry-After" in retry.reason
    assert isinstance(second, ResponseEvent) and second.status == 200
    assert second.request_id == "req-1" and second.elapsed >= 0
    assert isinstance(seen[-1], OrqError) and seen[-1].request_id == "req-2"


async def test_on_chunk_and_stream_metrics(server: FakeOrqServer) -> None:
    chunks: list[ChunkEvent[object]] = []

    async def on_chunk(event: ChunkEvent[object]) -> None:
        chunks.append(event)

    server.enqueue(
        FakeResponse.stream(["a", "b", "c"], headers={"x-request-id": "rid-9"})
    )
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, hooks=Hooks(on_chunk=on_chunk)
    ) as orq:
        stream = await orq.router.completions.create(model="m", prompt="p", stream=True)
        async with stream:
            texts = [c.choices[0].text async for c in stream]
    assert texts == ["a", "b", "c"]
    assert [e.index for e in chunks] == [0, 1, 2]
    assert all(e.request_id == "rid-9" for e in chunks)
    metrics = stream.metrics
    assert metrics.chunks == 3
    assert metrics.request_id == "rid-9"
    assert metrics.retries == 0
    assert metrics.bytes > 3 * 100
    assert metrics.time_to_first_byte is not None
    assert metrics.time_to_first_chunk is not None
    assert 0 <= metrics.time_to_first_byte <= metrics.time_to_first_chunk


async def test_a_failing_hook_does_not_break_the_call(
    server: FakeOrqServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError("hook bug")

    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, hooks=Hooks(on_request=broken)
    ) as orq:
        with caplog.at_level(logging.ERROR, logger="orq_async"):
            res = await orq.router.completions.create(model="m", prompt="p")
    assert res.choices
    assert "hook" in caplog.text


async def test_debug_logs_method_url_status_timing_and_retries(
    server: FakeOrqServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.enqueue(FakeResponse.error(503, "busy"))
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, retries=FAST_RETRIES
    ) as orq:
        with caplog.at_level(logging.DEBUG, logger="orq_async"):
            await orq.router.completions.create(model="m", prompt=SECRET_PROMPT)
    text = caplog.text
    assert "POST " + server.url + "/v2/router/completions -> 503" in text
    assert "-> 200" in text and " ms " in text
    assert "retrying after InternalServerError" in text
    assert SECRET_PROMPT not in text  # prompts are never logged
    assert "This is a fake" not in text  # nor completions
    _no_key(text)


async def test_the_key_never_leaks(
    server: FakeOrqServer, caplog: pytest.LogCaptureFixture, garbage_http_url: str
) -> None:
    errors: list[BaseException] = []
    server.enqueue(
        FakeResponse.error(401, "Invalid API key"),
        FakeResponse.error(500, "boom"),
    )

    with caplog.at_level(logging.DEBUG):
        for url in (server.url, server.url, garbage_http_url, "http://127.0.0.1:9"):
            async with AsyncOrq(api_key=API_KEY, server_url=url, retries=0) as orq:
                _no_key(repr(orq))
                try:
                    await orq.router.completions.create(model="m", prompt="p")
                except OrqError as exc:
                    errors.append(exc)
    assert len(errors) == 4
    for error in errors:
        _no_key(str(error))
        _no_key(repr(error))
        _no_key("".join(traceback.format_exception(error)))
        cause = error.__cause__ or error.__context__
        if cause is not None:
            _no_key(repr(cause))
            _no_key(repr(getattr(cause, "request_info", "")))
    for record in caplog.records:
        _no_key(record.getMessage())
        _no_key(repr(record.args))


def test_orq_log_env_turns_on_debug_logging() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORQ_")}
    env["ORQ_LOG"] = "debug"
    proc = subprocess.run(
        [sys.executable, "-m", "orq_async", "demo", "--max-tokens", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "orq_async DEBUG POST http://127.0.0.1:" in proc.stderr
    assert "demo-key" not in proc.stderr


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(
            FakeResponse.stream(["a", "b"], done=False, then="abort"),
            StreamConnectionError,
            id="abort",
        ),
        pytest.param(
            FakeResponse.stream(["a", "b"], done=False, finish_reason=None),
            IncompleteStreamError,
            id="truncated",
        ),
    ],
)
async def test_on_error_fires_once_for_mid_stream_failures(
    server: FakeOrqServer, response: FakeResponse, expected: type[OrqError]
) -> None:
    errors: list[BaseException] = []

    async def on_error(exc: BaseException) -> None:
        errors.append(exc)

    server.enqueue(response)
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, hooks=Hooks(on_error=on_error)
    ) as orq:
        stream = await orq.router.completions.create(model="m", prompt="p", stream=True)
        with pytest.raises(expected):
            async with stream:
                async for _ in stream:
                    pass
    assert len(errors) == 1 and isinstance(errors[0], expected)


async def test_on_error_fires_for_an_undecodable_completion(
    server: FakeOrqServer,
) -> None:
    errors: list[BaseException] = []

    async def on_error(exc: BaseException) -> None:
        errors.append(exc)

    server.enqueue(FakeResponse.raw(b'{"not": "a completion"'))
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, hooks=Hooks(on_error=on_error)
    ) as orq:
        with pytest.raises(ResponseDecodeError):
            await orq.router.completions.create(model="m", prompt="p")
    assert len(errors) == 1


@pytest.mark.parametrize(
    ("response", "stream", "expected"),
    [
        pytest.param(
            FakeResponse.raw(b'{"echo": "Bearer ' + API_KEY.encode() + b'"'),
            False,
            ResponseDecodeError,
            id="bad-json",
        ),
        pytest.param(
            FakeResponse.raw(
                b"<html>" + API_KEY.encode() + b"</html>", content_type="text/html"
            ),
            False,
            UnexpectedContentTypeError,
            id="html-json-call",
        ),
        pytest.param(
            FakeResponse.raw(
                b"<html>" + API_KEY.encode() + b"</html>", content_type="text/html"
            ),
            True,
            UnexpectedContentTypeError,
            id="html-stream-call",
        ),
    ],
)
async def test_a_key_echoed_in_a_200_body_is_masked(
    server: FakeOrqServer,
    response: FakeResponse,
    stream: bool,
    expected: type[OrqError],
) -> None:
    server.enqueue(response)
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as orq:
        with pytest.raises(expected) as info:
            await orq.router.completions.create(model="m", prompt="p", stream=stream)
    text = str(info.value) + repr(info.value) + repr(vars(info.value))
    assert API_KEY not in text
    assert "[redacted]" in text
