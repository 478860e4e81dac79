"""Pooled connections the server closed while idle are re-sent, not failed.

A scripted raw server closes a kept-alive connection at an exact moment; an
aiohttp server with a short keep-alive timeout produces the same race for real.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from aiohttp import web

from orq_async import (
    APIConnectionError,
    AsyncOrq,
    Hooks,
    PoolLimits,
    RequestEvent,
    RetryEvent,
)
from orq_async.testing import completion_chunk, sse_frame

from ..conftest import API_KEY
from ..real_servers import ScriptedHTTPServer


def _record(events: list[object]) -> Hooks:
    async def record(event: object) -> None:
        events.append(event)

    return Hooks(on_request=record, on_retry=record)


async def test_a_request_on_a_closed_idle_connection_is_sent_again_at_once() -> None:
    # The first connection answers once, then closes when the next request
    # arrives on it: exactly what a server's idle timeout racing a reuse does.
    events: list[object] = []
    script = {(0, 1): "close"}
    async with (
        ScriptedHTTPServer(lambda c, n: script.get((c, n), "answer")) as server,
        AsyncOrq(
            api_key=API_KEY, server_url=server.url, retries=0, hooks=_record(events)
        ) as orq,
    ):
        await orq.router.completions.create(model="m", prompt="p")
        result = await orq.router.completions.create(model="m", prompt="p")

    assert result.choices[0].text == "ok"
    assert server.connections == 2
    assert sorted(server.processed.values()) == [1, 1]
    requests = [e for e in events if isinstance(e, RequestEvent)]
    assert [(e.attempt, e.resend) for e in requests] == [
        (1, False),
        (1, False),
        (1, True),
    ]
    assert requests[1].idempotency_key == requests[2].idempotency_key
    assert not [e for e in events if isinstance(e, RetryEvent)]


async def test_a_stream_resend_shows_in_its_metrics_not_as_a_retry() -> None:
    script = {(0, 1): "close"}
    async with (
        ScriptedHTTPServer(lambda c, n: script.get((c, n), "answer")) as server,
        AsyncOrq(api_key=API_KEY, server_url=server.url, retries=0) as orq,
    ):
        await orq.router.completions.create(model="m", prompt="p")
        stream = await orq.router.completions.create(model="m", prompt="p", stream=True)
        assert [c.choices[0].text async for c in stream] == ["ok"]

    assert stream.metrics.resends == 1
    assert stream.metrics.retries == 0


async def test_only_one_resend_per_attempt() -> None:
    # Every request after the first on any connection is dropped unanswered:
    # the re-send goes out on a fresh connection, which answers.  A second
    # failure of the same attempt (a fresh connection closed) is not re-sent.
    script = {(0, 1): "close", (1, 0): "close"}
    async with (
        ScriptedHTTPServer(lambda c, n: script.get((c, n), "answer")) as server,
        AsyncOrq(api_key=API_KEY, server_url=server.url, retries=0) as orq,
    ):
        await orq.router.completions.create(model="m", prompt="p")
        with pytest.raises(APIConnectionError):
            await orq.router.completions.create(model="m", prompt="p")

    assert server.connections == 2


async def test_a_fresh_connection_closed_unanswered_is_not_resent() -> None:
    async with (
        ScriptedHTTPServer(lambda c, n: "close" if c == 0 else "answer") as server,
        AsyncOrq(api_key=API_KEY, server_url=server.url, retries=0) as orq,
    ):
        with pytest.raises(APIConnectionError):
            await orq.router.completions.create(model="m", prompt="p")

    assert server.connections == 1


async def test_no_resend_after_a_response_byte() -> None:
    script = {(0, 1): "partial"}
    async with (
        ScriptedHTTPServer(lambda c, n: script.get((c, n), "answer")) as server,
        AsyncOrq(api_key=API_KEY, server_url=server.url, retries=0) as orq,
    ):
        await orq.router.completions.create(model="m", prompt="p")
        with pytest.raises(APIConnectionError):
            await orq.router.completions.create(model="m", prompt="p")

    assert server.connections == 1


# -- a real server with a short keep-alive timeout ------------------------------

KEEPALIVE = 0.05


class KeepAliveServer:
    """aiohttp with a keep-alive timeout of KEEPALIVE seconds, counting the
    requests it processed per idempotency key."""

    def __init__(self) -> None:
        self.processed: Counter[str] = Counter()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.processed[request.headers["Idempotency-Key"]] += 1
        if not body.get("stream"):
            return web.json_response(completion_chunk("ok", finish_reason="stop"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for word in ("a", "b"):
            await resp.write(sse_frame(completion_chunk(word)))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def __aenter__(self) -> KeepAliveServer:
        app = web.Application()
        app.router.add_post("/v2/router/completions", self._handle)
        self._runner = web.AppRunner(
            app, keepalive_timeout=KEEPALIVE, handle_signals=False, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _spacing(rng: random.Random) -> float:
    # Around the server's idle timeout, where the race happens.
    return KEEPALIVE * rng.uniform(0.6, 1.4)


async def test_spaced_requests_around_the_server_idle_timeout_all_succeed() -> None:
    rng = random.Random(12)
    resends = 0

    async def count(event: RequestEvent) -> None:
        nonlocal resends
        resends += event.resend

    async with (
        KeepAliveServer() as server,
        AsyncOrq(
            api_key=API_KEY,
            server_url=server.url,
            retries=0,
            # Longer than the server's: the client keeps connections the server
            # is about to close, as with any server whose timeout is unknown.
            limits=PoolLimits(keepalive_expiry=10.0),
            hooks=Hooks(on_request=count),
        ) as orq,
    ):
        for _ in range(100):
            result = await orq.router.completions.create(model="m", prompt="p")
            assert result.choices[0].text == "ok"
            await asyncio.sleep(_spacing(rng))

    assert len(server.processed) == 100
    assert set(server.processed.values()) == {1}


async def test_spaced_streams_around_the_server_idle_timeout_all_succeed() -> None:
    rng = random.Random(30)
    async with (
        KeepAliveServer() as server,
        AsyncOrq(
            api_key=API_KEY,
            server_url=server.url,
            retries=0,
            limits=PoolLimits(keepalive_expiry=10.0),
        ) as orq,
    ):
        for _ in range(30):
            stream = await orq.router.completions.create(
                model="m", prompt="p", stream=True
            )
            assert [c.choices[0].text async for c in stream] == ["a", "b"]
            assert stream.metrics.retries == 0
            await asyncio.sleep(_spacing(rng))

    assert len(server.processed) == 30
    assert set(server.processed.values()) == {1}
