"""Security properties (fast): redirects, TLS verification, size bounds, redaction.

* No ``Authorization`` header reaches another host through a redirect: redirects
  are not followed at all (any 3xx is an :class:`APIError`), also with a
  caller-supplied aiohttp session.
* TLS verification is on by default (a server with a certificate from a private
  CA fails with a typed, non-retryable error); an ``ssl.SSLContext`` that trusts
  the CA works; the host name is checked.
* Response, header and event sizes are bounded.
* The API key appears in no error (any type), chained cause, traceback, log
  record, hook event or client repr, for every error type the client raises.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from orq_async import (
    APIConnectionError,
    APIError,
    AsyncOrq,
    Hooks,
    OrqError,
    PoolLimits,
    ResponseTooLargeError,
    Timeouts,
)
from orq_async.testing import FakeOrqServer, FakeResponse, completion_chunk, sse_frame

from ..conftest import API_KEY
from ..helpers import MIB, linux_only, peak_rss, peak_rss_reset, rss
from ..real_servers import client_context, server_context

if TYPE_CHECKING:
    import trustme

MODEL = "openai/gpt-4o-mini"


# -- redirects -------------------------------------------------------------------------


@pytest.fixture
async def other_host() -> AsyncIterator[FakeOrqServer]:
    """A second server (another origin: another port, and 'localhost')."""
    async with FakeOrqServer() as srv:
        yield srv


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_redirect_to_another_host_is_not_followed(
    server: FakeOrqServer, other_host: FakeOrqServer, status: int, stream: bool
) -> None:
    target = other_host.url.replace("127.0.0.1", "localhost") + "/v2/router/completions"
    server.enqueue(FakeResponse.redirect(target, status=status))
    async with AsyncOrq(api_key=API_KEY, server_url=server.url) as client:
        with pytest.raises(APIError) as info:
            await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=stream
            )
    assert info.value.status_code == status
    assert info.value.headers["Location"] == target
    assert other_host.request_count == 0  # the key never left for the other host
    assert len(server.requests) == 1  # and a 3xx is not retried


async def test_redirect_is_not_followed_with_a_caller_supplied_session(
    server: FakeOrqServer, other_host: FakeOrqServer
) -> None:
    server.enqueue(FakeResponse.redirect(other_host.url + "/v2/router/completions"))
    async with aiohttp.ClientSession() as session:
        async with AsyncOrq(
            api_key=API_KEY, server_url=server.url, session=session
        ) as client:
            with pytest.raises(APIError) as info:
                await client.router.completions.create(model=MODEL, prompt="Hi")
    assert info.value.status_code == 307
    assert other_host.request_count == 0


# -- TLS -------------------------------------------------------------------------------


async def test_tls_verification_is_on_by_default(tls_server: FakeOrqServer) -> None:
    assert tls_server.url.startswith("https://")
    async with AsyncOrq(api_key=API_KEY, server_url=tls_server.url) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.router.completions.create(model=MODEL, prompt="Hi")
    assert "certificate" in str(info.value).lower()
    assert info.value.retryable is False  # a bad certificate does not heal
    assert tls_server.request_count == 0  # nothing (no key) was sent


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_an_ssl_context_trusting_the_certificate_works(
    tls_server: FakeOrqServer, ca: trustme.CA, stream: bool
) -> None:
    context = client_context(ca)
    async with AsyncOrq(
        api_key=API_KEY, server_url=tls_server.url, ssl_context=context
    ) as client:
        result = await client.router.completions.create(
            model=MODEL, prompt="Hi", stream=stream, max_tokens=3
        )
        if stream:
            chunks = [chunk async for chunk in result]  # type: ignore[union-attr]
            assert len(chunks) == 3
        else:
            assert result.choices[0].text  # type: ignore[union-attr]
    assert tls_server.request_count == 1


async def test_host_name_is_checked_even_for_a_trusted_certificate(
    ca: trustme.CA,
) -> None:
    async with FakeOrqServer(ssl_context=server_context(ca, "example.com")) as srv:
        context = client_context(ca)
        async with AsyncOrq(
            api_key=API_KEY, server_url=srv.url, ssl_context=context
        ) as client:
            with pytest.raises(APIConnectionError):
                await client.router.completions.create(model=MODEL, prompt="Hi")
        assert srv.request_count == 0


async def test_verification_can_be_turned_off_explicitly(
    tls_server: FakeOrqServer,
) -> None:
    async with AsyncOrq(
        api_key=API_KEY, server_url=tls_server.url, ssl_context=False
    ) as client:
        result = await client.router.completions.create(model=MODEL, prompt="Hi")
    assert result.choices[0].text


# -- sizes -----------------------------------------------------------------------------


def test_default_limits_are_finite() -> None:
    client = AsyncOrq(api_key=API_KEY, server_url="http://127.0.0.1:9")
    assert 0 < client.max_event_size <= 64 * MIB
    assert 0 < client.max_response_size <= 256 * MIB


@linux_only
@pytest.mark.parametrize("status", [200, 500])
async def test_huge_non_streaming_body_is_refused_with_bounded_memory(
    server: FakeOrqServer, status: int
) -> None:
    # A chunked body (no Content-Length) of 96 MiB, made lazily by the server.
    server.enqueue(
        FakeResponse.flood(
            96 * MIB,
            prefix=b'{"id": "',
            fill=b"x",
            suffix=b'", "choices": []}',
            status=status,
            content_type="application/json",
        )
    )
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        retries=0,
        max_event_size=1 * MIB,
        max_response_size=4 * MIB,
    ) as client:
        if not peak_rss_reset():
            pytest.skip("cannot reset the peak-RSS mark here")
        before = rss()
        with pytest.raises(OrqError) as info:
            await client.router.completions.create(model=MODEL, prompt="Hi")
        growth = peak_rss() - before
    print(f"\n96 MiB body (HTTP {status}): peak RSS growth {growth / MIB:.1f} MiB")
    if status == 200:
        assert isinstance(info.value, ResponseTooLargeError), repr(info.value)
    else:  # an error body is read only as a bounded prefix for the message
        assert isinstance(info.value, APIError) and info.value.status_code == status
        assert len(info.value.body) <= 1 * MIB
    assert growth < 48 * MIB


async def test_huge_declared_content_length_is_refused_before_reading(
    server: FakeOrqServer,
) -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10737418240\r\n\r\n{"
        )
        await writer.drain()
        try:
            await reader.read()
        except ConnectionError:
            pass
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    try:
        async with AsyncOrq(
            api_key=API_KEY,
            server_url=url,
            retries=0,
            timeouts=Timeouts(stream_idle=2.0),
        ) as client:
            with pytest.raises(ResponseTooLargeError):
                await asyncio.wait_for(
                    client.router.completions.create(model=MODEL, prompt="Hi"), 1.0
                )
    finally:
        srv.close()
        await srv.wait_closed()


# -- redaction -------------------------------------------------------------------------

SECRET = API_KEY  # "sk-TEST-SECRET-123"


def _assert_no_key(text: str, where: str) -> None:
    assert SECRET not in text, f"API key in {where}: {text[:300]!r}"
    assert SECRET[3:] not in text, f"API key (unprefixed) in {where}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


def _check_error(exc: BaseException, label: str) -> None:
    for e in _chain(exc):
        _assert_no_key(str(e), f"str({label})")
        _assert_no_key(repr(e), f"repr({label})")
        _assert_no_key(repr(getattr(e, "__dict__", {})), f"vars({label})")
        _assert_no_key(repr(getattr(e, "request_info", "")), f"{label}.request_info")
        if isinstance(e, OrqError):
            _assert_no_key(repr(e.args), f"{label}.args")
    _assert_no_key("".join(traceback.format_exception(exc)), f"traceback({label})")


async def _run_case(case: str, tmp: dict[str, Any]) -> BaseException:
    """Provoke one kind of failure; return the error the caller got."""
    frame = sse_frame(completion_chunk("a"))
    server: FakeOrqServer = tmp["server"]
    url = server.url
    options: dict[str, Any] = {"retries": 0}
    stream = False
    if case == "401":
        options["api_key_override"] = "sk-TEST-SECRET-123-wrong"
    elif case == "500":
        server.enqueue(FakeResponse.error(500, "boom", type="server_error"))
    elif case == "429":
        server.enqueue(FakeResponse.error(429, "slow", headers={"Retry-After": "3600"}))
    elif case == "redirect":
        server.enqueue(FakeResponse.redirect(tmp["other"].url))
    elif case == "refused":
        url = "http://127.0.0.1:9"
    elif case == "tls":
        url = tmp["tls"].url
    elif case == "garbage-http":
        url = tmp["garbage"]
    elif case == "first-byte":
        server.enqueue(FakeResponse.completion("late", delay=1.0))
        options["timeouts"] = Timeouts(first_byte=0.05)
    elif case in ("abort", "idle", "decode", "in-band", "too-large", "truncated"):
        stream = True
        pieces = {
            "abort": ([frame], "abort"),
            "idle": ([frame], "hang"),
            "decode": ([frame, b"data: {bad\n\n"], "hang"),
            "in-band": ([frame, sse_frame({"error": {"message": "x"}})], "hang"),
            "too-large": ([frame, b"data: " + b"x" * 4096], "hang"),
            "truncated": ([frame], "end"),
        }[case]
        server.enqueue(FakeResponse.events_(pieces[0], then=pieces[1]))  # type: ignore[arg-type]
        options["timeouts"] = Timeouts(stream_idle=0.1)
        options["max_event_size"] = 1024
    elif case == "pool":
        server.enqueue(FakeResponse.stream(["a"], done=False, then="hang"))
        options["limits"] = PoolLimits(max_connections=1)
        options["timeouts"] = Timeouts(pool=0.05)
    elif case == "client-closed":
        stream = True
        server.enqueue(FakeResponse.stream(["a"], done=False, then="hang"))
    elif case == "bad-parameter":
        pass
    else:  # pragma: no cover
        raise AssertionError(case)

    key = options.pop("api_key_override", SECRET)
    events: list[object] = []

    async def record(event: object) -> None:
        events.append(event)

    hooks = Hooks(
        on_request=record, on_response=record, on_retry=record, on_error=record
    )
    client = AsyncOrq(api_key=key, server_url=url, hooks=hooks, **options)
    tmp["reprs"] += [repr(client), repr(vars(client))]
    try:
        async with client:
            if case == "pool":
                held = await client.router.completions.create(
                    model=MODEL, prompt="Hi", stream=True
                )
                tmp["keep"].append(held)
            if case == "bad-parameter":
                await client.router.completions.create(
                    model=MODEL,
                    prompt="Hi",
                    temperature="hot",  # type: ignore[call-overload]
                )
            result = await client.router.completions.create(
                model=MODEL, prompt="Hi", stream=stream
            )
            if case == "client-closed":
                await client.aclose()
            if stream:
                async for _ in result:  # type: ignore[union-attr]
                    pass
    except OrqError as exc:
        tmp["reprs"] += [repr(e) for e in events]
        return exc
    finally:
        for held in tmp["keep"]:
            await held.aclose()
        tmp["keep"].clear()
    raise AssertionError(f"{case}: no error")


CASES = [
    "401",
    "500",
    "429",
    "redirect",
    "refused",
    "tls",
    "garbage-http",
    "first-byte",
    "abort",
    "idle",
    "decode",
    "in-band",
    "too-large",
    "truncated",
    "pool",
    "client-closed",
    "bad-parameter",
]


async def test_the_key_is_redacted_in_every_error_log_hook_and_repr(
    server: FakeOrqServer,
    other_host: FakeOrqServer,
    tls_server: FakeOrqServer,
    garbage_http_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tmp: dict[str, Any] = {
        "server": server,
        "other": other_host,
        "tls": tls_server,
        "garbage": garbage_http_url,
        "reprs": [],
        "keep": [],
    }
    errors: dict[str, BaseException] = {}
    with caplog.at_level(logging.DEBUG):
        for case in CASES:
            errors[case] = await _run_case(case, tmp)

    kinds = {type(e).__name__ for e in errors.values()}
    assert len(kinds) >= 12, kinds  # the matrix really covers many error types
    for case, exc in errors.items():
        _check_error(exc, case)
    for text in tmp["reprs"]:
        _assert_no_key(text, "client/hook repr")
    for record in caplog.records:
        _assert_no_key(record.getMessage(), f"log record {record.name}")
        _assert_no_key(repr(record.args), f"log args {record.name}")
        if record.exc_info:
            _assert_no_key(
                "".join(traceback.format_exception(*record.exc_info)),
                "logged traceback",
            )


async def test_chained_aiohttp_error_args_hold_no_key(garbage_http_url: str) -> None:
    async with AsyncOrq(
        api_key=SECRET, server_url=garbage_http_url, retries=0
    ) as client:
        with pytest.raises(OrqError) as info:
            await client.router.completions.create(model=MODEL, prompt="Hi")
    causes = list(_chain(info.value))
    assert len(causes) > 1  # the aiohttp error is chained
    for e in causes:
        _assert_no_key(repr(e.args), f"{type(e).__name__}.args")


async def test_the_key_cannot_be_pickled_out_of_the_client() -> None:
    client = AsyncOrq(api_key=SECRET, server_url="http://127.0.0.1:9")
    with pytest.raises(TypeError) as info:
        pickle.dumps(client)
    _assert_no_key(str(info.value), "pickle error")


async def test_the_key_is_not_in_a_traceback_with_local_variables(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.error(500, "boom"))
    async with AsyncOrq(api_key=SECRET, server_url=server.url, retries=0) as client:
        with pytest.raises(OrqError) as info:
            await client.router.completions.create(model=MODEL, prompt="Hi")
    rendered = "".join(
        traceback.TracebackException.from_exception(
            info.value, capture_locals=True
        ).format()
    )
    _assert_no_key(rendered, "traceback with locals")


async def test_a_server_echoing_the_key_does_not_put_it_in_the_error(
    server: FakeOrqServer,
) -> None:
    # A hostile or careless upstream reflects the Authorization header back.
    server.enqueue(
        FakeResponse.error(401, f"bad key Bearer {SECRET}", type="authentication_error")
    )
    async with AsyncOrq(api_key=SECRET, server_url=server.url, retries=0) as client:
        with pytest.raises(OrqError) as info:
            await client.router.completions.create(model=MODEL, prompt="Hi")
    _assert_no_key(str(info.value), "str(error) of an echoing server")
    _assert_no_key(repr(info.value), "repr(error) of an echoing server")
