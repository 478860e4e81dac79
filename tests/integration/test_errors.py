"""Error responses, client-side retries and transport failures, end to end."""

from __future__ import annotations

import time

import aiohttp
import pytest

from orq_async import (
    APIConnectionError,
    APIError,
    AsyncOrq,
    AuthenticationError,
    BackoffStrategy,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    DeadlineExceededError,
    FirstByteTimeoutError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    OrqError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    RetryConfig,
    RetryPolicy,
    Timeouts,
    UnprocessableEntityError,
)
from orq_async.testing import FakeOrqServer, FakeResponse

from ..conftest import API_KEY
from ..real_servers import free_port

MODEL = "openai/gpt-3.5-turbo-instruct"


@pytest.mark.parametrize(
    ("status", "klass"),
    [
        pytest.param(400, BadRequestError, id="400"),
        pytest.param(401, AuthenticationError, id="401"),
        pytest.param(403, PermissionDeniedError, id="403"),
        pytest.param(404, NotFoundError, id="404"),
        pytest.param(408, RequestTimeoutError, id="408"),
        pytest.param(409, ConflictError, id="409"),
        pytest.param(422, UnprocessableEntityError, id="422"),
        pytest.param(429, RateLimitError, id="429"),
        pytest.param(500, InternalServerError, id="500"),
        pytest.param(502, InternalServerError, id="502"),
        pytest.param(503, InternalServerError, id="503"),
        pytest.param(418, APIError, id="418-generic"),
    ],
)
async def test_status_maps_to_class_with_parsed_fields(
    client: AsyncOrq, server: FakeOrqServer, status: int, klass: type[APIError]
) -> None:
    server.enqueue(
        FakeResponse.error(
            status,
            "The model `nope` does not exist",
            type="invalid_request_error",
            param="model",
            code="model_not_found",
            headers={"x-request-id": "req-123", "X-Custom": "v"},
        )
    )

    with pytest.raises(APIError) as info:
        await client.router.completions.create(model=MODEL, prompt="x", retries=0)

    err = info.value
    assert type(err) is klass
    assert isinstance(err, OrqError)
    assert err.status_code == status
    assert err.message == "The model `nope` does not exist"
    assert err.type == "invalid_request_error"
    assert err.param == "model"
    assert err.code == "model_not_found"
    assert err.request_id == "req-123"
    assert err.headers["x-request-id"] == "req-123"
    assert err.headers["X-Custom"] == "v"
    assert '"code":"model_not_found"' in err.body
    assert err.attempts == 1
    assert "The model `nope` does not exist" in str(err)
    assert str(status) in str(err)
    assert "req-123" in str(err)
    assert len(server.requests) == 1


async def test_integer_error_code_becomes_str(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(
        FakeResponse.json(
            {"error": {"message": "m", "type": None, "param": None, "code": 42}},
            status=400,
        )
    )

    with pytest.raises(BadRequestError) as info:
        await client.router.completions.create(model=MODEL, prompt="x")

    assert info.value.code == "42"
    assert info.value.type is None


@pytest.mark.parametrize(
    ("body", "content_type", "message_part"),
    [
        pytest.param(b"", "application/json", "empty body", id="empty-json"),
        pytest.param(b"", "text/plain", "empty body", id="empty-text"),
        pytest.param(b"  \n", "application/json", "empty body", id="whitespace"),
        pytest.param(
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
            "502 Bad Gateway",
            id="html",
        ),
        pytest.param(b"{not json", "application/json", "{not json", id="bad-json"),
        pytest.param(
            b'{"detail":"nope"}',
            "application/json",
            '{"detail":"nope"}',
            id="other-json",
        ),
        pytest.param(
            b'{"error":{"message":""}}',
            "application/json",
            "Bad Gateway",
            id="no-message",
        ),
    ],
)
async def test_odd_error_bodies_give_clean_api_errors(
    client: AsyncOrq,
    server: FakeOrqServer,
    body: bytes,
    content_type: str,
    message_part: str,
) -> None:
    server.enqueue(FakeResponse.raw(body, status=502, content_type=content_type))

    with pytest.raises(InternalServerError) as info:
        await client.router.completions.create(model=MODEL, prompt="x", retries=0)

    err = info.value
    assert err.status_code == 502
    assert err.body == body.decode()
    assert message_part in err.message
    assert "502" in str(err)
    assert err.type is None or body.startswith(b'{"error"')


async def test_html_error_message_names_content_type(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.raw(b"<p>no</p>", status=400, content_type="text/html"))

    with pytest.raises(BadRequestError) as info:
        await client.router.completions.create(model=MODEL, prompt="x")

    assert "text/html" in info.value.message


async def test_long_error_body_is_excerpted_in_message(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    body = b"x" * 50_000
    server.enqueue(FakeResponse.raw(body, status=400, content_type="text/plain"))

    with pytest.raises(BadRequestError) as info:
        await client.router.completions.create(model=MODEL, prompt="x")

    assert len(info.value.message) < 1000
    assert info.value.body == body.decode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Retry-After": "7"}, 7.0, id="seconds"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="ms"),
        pytest.param({"Retry-After": "soon"}, None, id="garbage"),
        pytest.param({}, None, id="absent"),
    ],
)
async def test_rate_limit_carries_retry_after(
    client: AsyncOrq,
    server: FakeOrqServer,
    headers: dict[str, str],
    expected: float | None,
) -> None:
    server.enqueue(FakeResponse.error(429, "slow down", headers=headers))

    with pytest.raises(RateLimitError) as info:
        await client.router.completions.create(model=MODEL, prompt="x", retries=None)

    assert info.value.retry_after == expected
    assert len(server.requests) == 1


async def test_connection_refused_is_api_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    async with AsyncOrq(api_key=API_KEY, server_url=url, retries=0) as orq:
        with pytest.raises(APIConnectionError) as info:
            await orq.router.completions.create(model=MODEL, prompt="x")

    assert not isinstance(info.value, APIError)
    assert info.value.retryable
    assert isinstance(info.value.__cause__, OSError)


async def test_connection_refused_is_retried_then_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)

    async with AsyncOrq(api_key=API_KEY, server_url=url, retries=policy) as orq:
        start = time.monotonic()
        with pytest.raises(APIConnectionError):
            await orq.router.completions.create(model=MODEL, prompt="x")

    assert time.monotonic() - start < 2


async def test_connection_errors_not_retried_when_disabled(
    server: FakeOrqServer,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_retries=50, initial_delay=1, retry_connection_errors=False)

    async with AsyncOrq(api_key=API_KEY, server_url=url, retries=policy) as orq:
        start = time.monotonic()
        with pytest.raises(APIConnectionError):
            await orq.router.completions.create(model=MODEL, prompt="x")

    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_status_is_retried_until_exhausted(
    client: AsyncOrq, server: FakeOrqServer, status: int
) -> None:
    server.enqueue(*(FakeResponse.error(status, f"fail {i}") for i in range(3)))

    with pytest.raises(APIError) as info:
        await client.router.completions.create(model=MODEL, prompt="x")

    assert len(server.requests) == 3
    assert info.value.status_code == status
    assert info.value.attempts == 3
    assert info.value.retryable
    assert info.value.message == "fail 2"


async def test_retryable_status_then_success(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.error(500, "boom"))

    result = await client.router.completions.create(model=MODEL, prompt="x")

    assert result.choices[0].text
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
async def test_non_retryable_status_is_not_retried(
    client: AsyncOrq, server: FakeOrqServer, status: int
) -> None:
    server.enqueue(FakeResponse.error(status, "no"), FakeResponse.completion("never"))

    with pytest.raises(APIError) as info:
        await client.router.completions.create(model=MODEL, prompt="x")

    assert len(server.requests) == 1
    assert info.value.status_code == status
    assert not info.value.retryable


@pytest.mark.parametrize("retries", [None, 0, False], ids=["None", "0", "False"])
async def test_retries_can_be_disabled_per_call(
    client: AsyncOrq, server: FakeOrqServer, retries: int | None
) -> None:
    server.enqueue(FakeResponse.error(500, "boom"), FakeResponse.completion("never"))

    with pytest.raises(InternalServerError):
        await client.router.completions.create(model=MODEL, prompt="x", retries=retries)

    assert len(server.requests) == 1


async def test_retries_disabled_on_the_client(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.error(503, "busy"), FakeResponse.completion("never"))

    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=None) as orq:
        with pytest.raises(InternalServerError):
            await orq.router.completions.create(model=MODEL, prompt="x")

    assert len(server.requests) == 1


async def test_per_call_int_retries(client: AsyncOrq, server: FakeOrqServer) -> None:
    server.enqueue(*(FakeResponse.error(503, "busy") for _ in range(2)))

    with pytest.raises(InternalServerError):
        await client.router.completions.create(
            model=MODEL,
            prompt="x",
            retries=RetryPolicy(max_retries=1, initial_delay=0.001),
        )

    assert len(server.requests) == 2


async def test_retry_after_is_honoured(client: AsyncOrq, server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.error(429, "slow", headers={"Retry-After": "0.2"}))

    await client.router.completions.create(model=MODEL, prompt="x")

    first, second = server.requests
    assert second.received_at - first.received_at >= 0.18


async def test_retry_after_over_cap_raises_at_once(server: FakeOrqServer) -> None:
    server.enqueue(
        FakeResponse.error(429, "come back later", headers={"Retry-After": "120"}),
        FakeResponse.completion("never"),
    )
    policy = RetryPolicy(max_retries=3, initial_delay=0.01, max_retry_after=10)

    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=policy) as orq:
        start = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await orq.router.completions.create(model=MODEL, prompt="x")

    assert time.monotonic() - start < 1
    assert info.value.retry_after == 120.0
    assert info.value.attempts == 1
    assert len(server.requests) == 1


async def test_retry_after_on_5xx_over_cap_raises_at_once(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.error(503, "down", headers={"Retry-After": "3600"}))
    policy = RetryPolicy(max_retries=3, initial_delay=0.01, max_retry_after=10)

    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=policy) as orq:
        with pytest.raises(InternalServerError):
            await orq.router.completions.create(model=MODEL, prompt="x")

    assert len(server.requests) == 1


async def test_first_byte_timeout(client: AsyncOrq, server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.completion("late", delay=0.5))

    with pytest.raises(FirstByteTimeoutError) as info:
        await client.router.completions.create(
            model=MODEL,
            prompt="x",
            retries=0,
            timeouts=Timeouts(first_byte=0.1),
        )

    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, APIConnectionError)


async def test_deadline_bounds_the_whole_call(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    server.enqueue(*(FakeResponse.completion("late", delay=0.5) for _ in range(3)))

    start = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        await client.router.completions.create(model=MODEL, prompt="x", timeouts=0.2)

    assert time.monotonic() - start < 1.5


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


async def test_connection_refused_is_typed(server: FakeOrqServer) -> None:
    async with AsyncOrq(
        api_key=API_KEY, server_url="http://127.0.0.1:9", retries=0
    ) as orq:
        with pytest.raises(APIConnectionError):
            await orq.router.completions.create(model="m", prompt="p")


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


# --- the API key never leaks -------------------------------------------------


def assert_no_key(obj: object, key: str) -> None:
    assert key not in str(obj)
    assert key not in repr(obj)
    if isinstance(obj, BaseException):
        assert key not in repr(obj.args)
    if isinstance(obj, APIError):
        assert key not in repr(obj.headers)
        assert key not in obj.body


async def test_api_key_never_in_errors_or_client_repr(server: FakeOrqServer) -> None:
    wrong_key = "sk-WRONG-SECRET-456"
    caught: list[BaseException] = []
    server.enqueue(FakeResponse.error(500, "boom"), FakeResponse.error(429, "slow"))

    async with AsyncOrq(api_key=API_KEY, server_url=server.url, retries=0) as orq:
        for _ in range(2):
            with pytest.raises(APIError) as api_info:
                await orq.router.completions.create(model=MODEL, prompt="x")
            caught.append(api_info.value)
        with pytest.raises(InvalidParameterError) as bad_info:
            await orq.router.completions.create(model=MODEL, prompt="x", n=0)
        caught.append(bad_info.value)
        client_repr = repr(orq)
        client_str = str(orq)
        attributes = repr(vars(orq))

    async with AsyncOrq(api_key=wrong_key, server_url=server.url, retries=0) as bad:
        with pytest.raises(AuthenticationError) as auth_info:
            await bad.router.completions.create(model=MODEL, prompt="x")
        bad_repr = repr(bad)

    refused = f"http://127.0.0.1:{free_port()}"
    async with AsyncOrq(api_key=API_KEY, server_url=refused, retries=0) as orq2:
        with pytest.raises(APIConnectionError) as conn_info:
            await orq2.router.completions.create(model=MODEL, prompt="x")

    for err in caught:
        assert_no_key(err, API_KEY)
    assert_no_key(auth_info.value, wrong_key)
    assert_no_key(conn_info.value, API_KEY)
    assert_no_key(conn_info.value.__cause__, API_KEY)
    for text in (client_repr, client_str, attributes):
        assert API_KEY not in text
    assert wrong_key not in bad_repr
