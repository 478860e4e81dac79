"""Behaviours found missing in review, each pinned by a test."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import aiohttp
import pytest

from orq_async import (
    APIConnectionError,
    AsyncOrq,
    BackoffStrategy,
    ClientClosedError,
    Hooks,
    IncompleteStreamError,
    InvalidParameterError,
    InvalidParameterTypeError,
    Orq,
    OrqError,
    PoolLimits,
    PoolTimeoutError,
    ResponseDecodeError,
    RetryConfig,
    RetryPolicy,
    StreamAPIError,
    StreamConnectionError,
    Timeouts,
    UnexpectedContentTypeError,
    UnprocessableEntityError,
)
from orq_async.testing import (
    FakeOrqServer,
    FakeResponse,
    completion_chunk,
    sse_frame,
)

from ..conftest import API_KEY


async def test_pool_timeouts_are_retried_when_the_policy_opts_in(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.stream(["a"], done=False, then="hang"))
    policy = RetryPolicy(max_retries=5, initial_delay=0.05, retry_pool_timeouts=True)
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        limits=PoolLimits(max_connections=1),
        timeouts=Timeouts(pool=0.2),
        retries=policy,
    ) as orq:
        held = await orq.router.completions.create(model="m", prompt="p", stream=True)
        seen: list[object] = []

        async def on_retry(event: object) -> None:
            seen.append(event)
            if len(seen) == 2:
                await held.aclose()  # free the only connection while retrying

        orq.hooks = Hooks(on_retry=on_retry)
        res = await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    assert res.choices[0].text == "This"
    assert len(seen) == 2
    assert all("PoolTimeoutError" in e.reason for e in seen)  # type: ignore[attr-defined]


async def test_pool_timeouts_are_not_retried_by_default(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.stream(["a"], done=False, then="hang"))
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        limits=PoolLimits(max_connections=1),
        timeouts=Timeouts(pool=0.2),
        retries=RetryPolicy(max_retries=5, initial_delay=0.01),
    ) as orq:
        held = await orq.router.completions.create(model="m", prompt="p", stream=True)
        with pytest.raises(PoolTimeoutError):
            await orq.router.completions.create(model="m", prompt="p")
        await held.aclose()
    assert len(server.requests) == 1


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


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"idempotency_key": "a\nb"}, id="idempotency-key-newline"),
        pytest.param({"idempotency_key": ""}, id="idempotency-key-empty"),
        pytest.param({"extra_headers": {"X-A": "a\x00b"}}, id="header-nul"),
        pytest.param({"extra_headers": {"X-A": "a\x07b"}}, id="header-bell"),
        pytest.param({"extra_headers": {"Bad Name": "v"}}, id="header-name"),
    ],
)
async def test_unsendable_header_values_fail_before_io(
    client: AsyncOrq, server: FakeOrqServer, kwargs: dict[str, object]
) -> None:
    with pytest.raises(InvalidParameterError):
        await client.router.completions.create(model="m", prompt="p", **kwargs)  # type: ignore[call-overload]
    assert server.requests == []


async def test_a_key_with_a_control_character_is_rejected(
    server: FakeOrqServer,
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncOrq(api_key="sk-x\ny", server_url=server.url)
    assert "sk-x" not in str(info.value)

    async with AsyncOrq(api_key=lambda: "sk-x\ry", server_url=server.url) as orq:
        with pytest.raises(InvalidParameterError):
            await orq.router.completions.create(model="m", prompt="p")
    async with AsyncOrq(api_key=lambda: None, server_url=server.url) as orq:  # type: ignore[arg-type,return-value]
        with pytest.raises(InvalidParameterTypeError):
            await orq.router.completions.create(model="m", prompt="p")
    assert server.requests == []


@pytest.mark.parametrize("bad", [math.inf, math.nan, -1.0, 0])
def test_non_finite_or_non_positive_limits_are_rejected(bad: float) -> None:
    with pytest.raises(InvalidParameterError):
        Timeouts(connect=bad)
    with pytest.raises(InvalidParameterError):
        RetryPolicy(initial_delay=bad if bad != 0 else -1)


async def test_sdk_client_level_retry_config(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.error(503, "busy"))
    config = RetryConfig("backoff", BackoffStrategy(10, 20, 1.5, 2000))
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, retry_config=config
    ) as orq:
        await orq.router.completions.create(model="m", prompt="p", max_tokens=1)
    assert len(server.requests) == 2
    with pytest.raises(InvalidParameterError):
        AsyncOrq(api_key=API_KEY, retries=1, retry_config=config)


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


def _cli(*args: str, key_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORQ_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "orq_async",
            "complete",
            "hi",
            "--api-key-file",
            str(key_file),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "content",
    [pytest.param(b"\xff\xfe", id="binary"), pytest.param(b"a\nb\n", id="two-lines")],
)
def test_cli_bad_key_file_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    proc = _cli("--server-url", "http://127.0.0.1:9", key_file=key_file)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_no_stream_stats_show_the_request_id(
    threaded_server: FakeOrqServer, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY)
    proc = _cli(
        "--server-url",
        threaded_server.url,
        "--no-stream",
        "--stats",
        "--max-tokens",
        "2",
        key_file=key_file,
    )
    assert proc.returncode == 0, proc.stderr
    assert "request id req-cmpl-fake-" in proc.stderr


def test_cli_closed_stdout_pipe_exits_quietly(
    slow_threaded_server: FakeOrqServer, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORQ_")}
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
        env=env,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(4)
        proc.stdout.close()  # the reader goes away, like `| head -c 4`
        err = proc.stderr.read()
        proc.wait(20)
    assert b"Traceback" not in err
    assert proc.returncode in (0, 1)


async def test_connection_refused_is_typed(server: FakeOrqServer) -> None:
    async with AsyncOrq(
        api_key=API_KEY, server_url="http://127.0.0.1:9", retries=0
    ) as orq:
        with pytest.raises(APIConnectionError):
            await orq.router.completions.create(model="m", prompt="p")


async def test_no_request_is_sent_after_aclose_during_a_pending_call(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.completion("late", delay=0.5))
    orq = AsyncOrq(api_key=API_KEY, server_url=server.url)
    task = asyncio.ensure_future(orq.router.completions.create(model="m", prompt="p"))
    await asyncio.sleep(0.1)
    await orq.aclose()
    with pytest.raises(ClientClosedError):
        await task
    await asyncio.sleep(0.6)
    assert [r.headers["X-Orq-Attempt"] for r in server.requests] == ["1"]


async def test_a_callers_session_with_raise_for_status_still_maps_errors(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.error(429, "slow", headers={"retry-after-ms": "10"}))
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with AsyncOrq(
            api_key=API_KEY, server_url=server.url, session=session
        ) as orq:
            res = await orq.router.completions.create(model="m", prompt="p")
        assert not session.closed  # never closed by us
    assert res.choices and len(server.requests) == 2


async def test_a_closed_callers_session_gives_a_typed_error(
    server: FakeOrqServer,
) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    async with AsyncOrq(api_key=API_KEY, server_url=server.url, session=session) as orq:
        with pytest.raises(ClientClosedError):
            await orq.router.completions.create(model="m", prompt="p")


@pytest.mark.parametrize(
    "url",
    ["http://user:pw@127.0.0.1:1", "http://127.0.0.1:1/?a=b", "http://h/#x", "ftp://h"],
)
def test_server_url_with_credentials_query_or_other_scheme_is_rejected(
    url: str,
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        AsyncOrq(api_key=API_KEY, server_url=url)
    assert "pw" not in str(info.value)


class _Name(str):
    pass


async def test_str_subclasses_are_sent_as_plain_strings(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    await client.router.completions.create(
        model=_Name("m"), prompt=_Name("p"), user=_Name("u"), stop=[_Name("x")]
    )
    assert server.last_request.body == (
        b'{"model":"m","prompt":"p","stop":["x"],"user":"u"}'
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"orq": {"inputs": {"x": object()}}}, id="unencodable"),
        pytest.param({"extra_headers": [("X-A", "1")]}, id="headers-not-mapping"),
        pytest.param({"extra_headers": {"Content-Length": "3"}}, id="framing-header"),
        pytest.param({"fallback_on_codes": [500, 500]}, id="duplicate-codes"),
        pytest.param(
            {
                "orq": {
                    "knowledge_bases": [
                        {"knowledge_id": "k", "rerank_config": {"modle": "x"}}
                    ]
                }
            },
            id="kb-typo",
        ),
        pytest.param({"cache": {1: 2}}, id="non-str-key"),
    ],
)
async def test_more_invalid_arguments_fail_before_io(
    client: AsyncOrq, server: FakeOrqServer, kwargs: dict[str, object]
) -> None:
    with (
        warnings.catch_warnings(),
        pytest.raises(InvalidParameterError) as info,
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        await client.router.completions.create(model="m", prompt="p", **kwargs)  # type: ignore[call-overload]
    assert info.value.field != "<body>" or "cannot be encoded" in str(info.value)
    assert server.requests == []


async def test_orq_deprecation_warning_points_at_the_caller(
    client: AsyncOrq,
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        await client.router.completions.create(model="m", prompt="p", orq={"name": "x"})
    assert record[0].filename == __file__


def _n2_chunk(text: str, index: int, finish: str | None) -> bytes:
    chunk = completion_chunk(text, index=index, finish_reason=finish)
    return sse_frame(chunk)


async def test_n_greater_than_one_tracks_choices_by_index(
    server: FakeOrqServer, client: AsyncOrq
) -> None:
    server.enqueue(
        FakeResponse.events_(
            [
                _n2_chunk("A", 0, None),
                _n2_chunk("B", 1, None),
                _n2_chunk("a", 0, "stop"),
                _n2_chunk("b", 1, None),
            ]
        )
    )
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    with pytest.raises(IncompleteStreamError) as info:
        async with stream:
            assert [t async for t in stream.aiter_text()] == ["A", "a"]
    assert info.value.partial_text == "Aa"  # choice 0 only

    server.enqueue(
        FakeResponse.events_([_n2_chunk("A", 0, "stop"), _n2_chunk("B", 1, "length")])
    )
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    assert await stream.text() == "A"  # every choice finished: a normal end


async def test_stream_headers_usage_and_text(
    server: FakeOrqServer, client: AsyncOrq
) -> None:
    stream = await client.router.completions.create(
        model="m", prompt="p", max_tokens=3, stream=True
    )
    assert stream.headers["X-Request-Id"].startswith("req-")
    assert await stream.text() == "This is a"
    assert stream.usage is not None and stream.usage.completion_tokens == 3


@pytest.mark.parametrize(
    "payload",
    [b'{"error":"rate limited"}', b'{"error":{"message":5}}'],
)
async def test_loose_in_band_error_shapes_are_stream_api_errors(
    server: FakeOrqServer, client: AsyncOrq, payload: bytes
) -> None:
    server.enqueue(
        FakeResponse.events_([sse_frame(completion_chunk("a")), sse_frame(payload)])
    )
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    with pytest.raises(StreamAPIError):
        async with stream:
            async for _ in stream:
                pass


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
async def test_every_line_end_streams_the_same(
    server: FakeOrqServer, client: AsyncOrq, eol: bytes
) -> None:
    server.enqueue(FakeResponse.stream(["x", "y"], eol=eol))
    stream = await client.router.completions.create(model="m", prompt="p", stream=True)
    assert await stream.text() == "xy"


async def test_the_fake_router_refuses_absurd_token_counts(
    client: AsyncOrq,
) -> None:
    with pytest.raises(UnprocessableEntityError):
        await client.router.completions.create(model="m", prompt="p", max_tokens=2**40)
