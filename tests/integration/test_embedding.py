"""The embedding examples (``examples/``) against the fake router, over real sockets.

* Starlette: the app runs in uvicorn on 127.0.0.1 (lifespan included); an aiohttp
  client plays the browser.
* aiohttp: the app runs in an ``AppRunner`` on 127.0.0.1, with and without
  handler cancellation.
* Fan-out: N completions and N streams in a task group, then a cancelled one.

"Released" is observed upstream: the fake router records each client that went
away mid-response. ``filterwarnings = error`` turns any ResourceWarning into a
failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest
import uvicorn
from aiohttp import web

from orq_async import AsyncOrq
from orq_async.testing import (
    FakeOrqServer,
    FakeResponse,
    completion_chunk,
    sse_frame,
)

from ..conftest import API_KEY, FAST_RETRIES
from ..helpers import hanging_stream

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (the folder is not a package)."""
    module_name = f"orq_examples_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


starlette_app = load_example("starlette_app")
aiohttp_app = load_example("aiohttp_app")
fan_out = load_example("fan_out")

#: Upper bound for the relay to notice the browser left and close upstream.
RELEASE_WITHIN = 1.0


def client_options(server: FakeOrqServer) -> dict[str, Any]:
    return {"api_key": API_KEY, "server_url": server.url, "retries": FAST_RETRIES}


# -- servers for the apps under test ---------------------------------------------


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """Run an ASGI app in uvicorn on 127.0.0.1 (free port), lifespan included."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn did not start")
            await asyncio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serve_aiohttp(
    app: web.Application, *, handler_cancellation: bool
) -> AsyncIterator[str]:
    """Run an aiohttp app on 127.0.0.1 (free port), as ``web.run_app`` would."""
    runner = web.AppRunner(
        app, handler_cancellation=handler_cancellation, access_log=None
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _, port = runner.addresses[0][:2]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# -- the browser side ----------------------------------------------------------


async def read_frames(
    resp: aiohttp.ClientResponse, n: int | None = None
) -> list[bytes]:
    """SSE frames (without the blank line) until the end, or the first ``n``."""
    frames: list[bytes] = []
    while n is None or len(frames) < n:
        try:
            frame = await resp.content.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            assert exc.partial == b""
            break
        if not frame:
            break
        assert frame.endswith(b"\n\n"), frame
        frames.append(frame[:-2])
    return frames


def frame_text(frame: bytes) -> str:
    assert frame.startswith(b"data: {"), frame
    chunk = msgspec.json.decode(frame[len(b"data: ") :])
    return str(chunk["choices"][0]["text"])


async def released(server: FakeOrqServer, since: float, count: int = 1) -> None:
    """The fake router saw ``count`` clients leave, each within RELEASE_WITHIN."""
    for _ in range(int(RELEASE_WITHIN / 0.01)):
        if len(server.disconnects) >= count:
            break
        await asyncio.sleep(0.01)
    assert len(server.disconnects) == count, server.disconnects
    assert all(t - since < RELEASE_WITHIN for t in server.disconnects)
    assert server.active_responses == 0


async def browser_leaves_mid_stream(url: str, server: FakeOrqServer) -> None:
    """Read the first two frames, drop the connection, expect upstream released."""
    async with aiohttp.ClientSession() as browser:
        resp = await browser.get(f"{url}/sse", params={"prompt": "hi"})
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        frames = await read_frames(resp, 2)
        assert [frame_text(f) for f in frames] == ["a", "b"]
        assert server.disconnects == []
        left_at = time.monotonic()
        resp.close()  # the browser tab is closed: the TCP connection goes
    await released(server, left_at)


# -- Starlette / FastAPI ---------------------------------------------------------


@pytest.fixture
async def starlette_url(server: FakeOrqServer) -> AsyncIterator[str]:
    async with serve_asgi(starlette_app.create_app(**client_options(server))) as url:
        yield url


async def test_starlette_relays_sse(server: FakeOrqServer, starlette_url: str) -> None:
    server.enqueue(FakeResponse.stream(["Hello", ",", " world"]))
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(f"{starlette_url}/sse", params={"prompt": "Say hi"}) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["Cache-Control"] == "no-cache"
        frames = await read_frames(resp)
    assert frames[-1] == b"data: [DONE]"
    assert [frame_text(f) for f in frames[:-1]] == ["Hello", ",", " world"]
    last = msgspec.json.decode(frames[-2][len(b"data: ") :])
    assert last["choices"][0]["finish_reason"] == "stop"
    (request,) = server.requests
    assert request.json["prompt"] == "Say hi"
    assert request.json["stream"] is True


async def test_starlette_relays_text(server: FakeOrqServer, starlette_url: str) -> None:
    server.enqueue(FakeResponse.stream(["Hello", ",", " world"]))
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(f"{starlette_url}/text", params={"prompt": "hi"}) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert await resp.text() == "Hello, world"


async def test_starlette_generated_stream(
    server: FakeOrqServer, starlette_url: str
) -> None:
    """Many chunks (the fake router's default answer) all arrive, in order."""
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(f"{starlette_url}/sse", params={"prompt": "hi"}) as resp,
    ):
        frames = await read_frames(resp)
    assert len(frames) == starlette_app.MAX_TOKENS + 1
    text = "".join(frame_text(f) for f in frames[:-1])
    assert text.startswith("This is a fake completion")


async def test_starlette_upstream_error_before_stream_is_502(
    server: FakeOrqServer, starlette_url: str
) -> None:
    server.enqueue(FakeResponse.error(400, "bad prompt"))
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(f"{starlette_url}/sse", params={"prompt": "hi"}) as resp,
    ):
        assert resp.status == 502
        body = await resp.json()
    assert "bad prompt" in body["error"]["message"]


async def test_starlette_upstream_error_mid_stream_is_error_frame(
    server: FakeOrqServer, starlette_url: str
) -> None:
    server.enqueue(
        FakeResponse.events_(
            [
                sse_frame(completion_chunk("a")),
                sse_frame(
                    {"error": {"message": "overloaded", "type": "server_error"}},
                    event="error",
                ),
            ]
        )
    )
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(f"{starlette_url}/sse", params={"prompt": "hi"}) as resp,
    ):
        frames = await read_frames(resp)
    assert frame_text(frames[0]) == "a"
    assert frames[1].startswith(b"event: error\ndata: ")
    error = msgspec.json.decode(frames[1].split(b"data: ", 1)[1])["error"]
    assert "overloaded" in error["message"]
    assert error["type"] == "server_error"
    assert len(frames) == 2


async def test_starlette_browser_disconnect_releases_upstream(
    server: FakeOrqServer, starlette_url: str
) -> None:
    server.enqueue(hanging_stream())
    await browser_leaves_mid_stream(starlette_url, server)


async def test_starlette_disconnect_while_tokens_flow() -> None:
    """Upstream keeps sending tokens; the relay still stops and lets go at once."""
    async with FakeOrqServer(api_key=API_KEY, default_delay=0.02) as server:
        app = starlette_app.create_app(**client_options(server))
        async with serve_asgi(app) as url, aiohttp.ClientSession() as browser:
            resp = await browser.get(f"{url}/sse", params={"prompt": "hi"})
            assert len(await read_frames(resp, 3)) == 3
            left_at = time.monotonic()
            resp.close()
            await released(server, left_at)
        assert len(server.requests) == 1


# -- aiohttp ---------------------------------------------------------------------


async def test_aiohttp_relays_sse(server: FakeOrqServer) -> None:
    server.enqueue(FakeResponse.stream(["Hello", ",", " world"]))
    app = aiohttp_app.create_app(**client_options(server))
    async with (
        serve_aiohttp(app, handler_cancellation=True) as url,
        aiohttp.ClientSession() as browser,
        browser.get(f"{url}/sse", params={"prompt": "Say hi"}) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        frames = await read_frames(resp)
    assert frames[-1] == b"data: [DONE]"
    assert [frame_text(f) for f in frames[:-1]] == ["Hello", ",", " world"]
    assert server.last_request.json["prompt"] == "Say hi"


async def test_aiohttp_upstream_error_before_stream_is_502(
    server: FakeOrqServer,
) -> None:
    server.enqueue(FakeResponse.error(400, "bad prompt"))
    app = aiohttp_app.create_app(**client_options(server))
    async with (
        serve_aiohttp(app, handler_cancellation=True) as url,
        aiohttp.ClientSession() as browser,
        browser.get(f"{url}/sse", params={"prompt": "hi"}) as resp,
    ):
        assert resp.status == 502
        assert "bad prompt" in (await resp.json())["error"]["message"]


async def test_aiohttp_browser_disconnect_releases_upstream(
    server: FakeOrqServer,
) -> None:
    """With handler cancellation, even a stalled upstream is let go at once."""
    server.enqueue(hanging_stream())
    app = aiohttp_app.create_app(**client_options(server))
    async with serve_aiohttp(app, handler_cancellation=True) as url:
        await browser_leaves_mid_stream(url, server)


async def test_aiohttp_default_runner_releases_on_next_write() -> None:
    """Without handler cancellation the next ``resp.write()`` notices the
    disconnect: upstream is let go when its next token arrives (long before the
    256 tokens at 50 ms each would have ended the stream)."""
    async with FakeOrqServer(api_key=API_KEY, default_delay=0.05) as server:
        app = aiohttp_app.create_app(**client_options(server))
        async with serve_aiohttp(app, handler_cancellation=False) as url:
            async with aiohttp.ClientSession() as browser:
                resp = await browser.get(f"{url}/sse", params={"prompt": "hi"})
                assert len(await read_frames(resp, 2)) == 2
                left_at = time.monotonic()
                resp.close()
            await released(server, left_at)


# -- fan-out ---------------------------------------------------------------------

N = 5
PROMPTS = [f"prompt {i}" for i in range(N)]


def upstream_prompts(server: FakeOrqServer) -> list[str]:
    return sorted(r.json["prompt"] for r in server.requests)


async def test_complete_all(server: FakeOrqServer, client: AsyncOrq) -> None:
    results = await fan_out.complete_all(client, PROMPTS, max_tokens=3)
    assert results == ["This is a"] * N
    assert len(server.requests) == N
    assert upstream_prompts(server) == PROMPTS


async def test_complete_all_keeps_order_and_runs_concurrently(
    server: FakeOrqServer, client: AsyncOrq
) -> None:
    # Answer i is delayed so that they finish in reverse order.
    server.enqueue(
        *(FakeResponse.completion(f"r{i}", delay=0.05 * (N - i)) for i in range(N))
    )
    started = time.monotonic()
    results = await fan_out.complete_all(client, PROMPTS)
    elapsed = time.monotonic() - started
    # Scripted answer k went to the k-th request to arrive; the slowest first.
    answer = {r.json["prompt"]: f"r{k}" for k, r in enumerate(server.requests)}
    assert results == [answer[p] for p in PROMPTS]
    assert elapsed < 0.05 * N + 0.2  # concurrent: about the longest delay
    assert len(server.requests) == N


async def test_complete_all_with_limit(server: FakeOrqServer, client: AsyncOrq) -> None:
    server.enqueue(*(FakeResponse.completion(f"r{i}", delay=0.05) for i in range(N)))
    started = time.monotonic()
    results = await fan_out.complete_all(client, PROMPTS, limit=1)
    assert time.monotonic() - started >= 0.05 * N
    assert sorted(results) == sorted(f"r{i}" for i in range(N))


async def test_stream_all(server: FakeOrqServer, client: AsyncOrq) -> None:
    texts = await fan_out.stream_all(client, PROMPTS, max_tokens=4)
    assert texts == ["This is a fake"] * N
    assert len(server.requests) == N
    assert upstream_prompts(server) == PROMPTS
    assert all(r.json["stream"] is True for r in server.requests)
    assert server.disconnects == []


async def test_cancelled_fan_out_releases_every_stream(
    server: FakeOrqServer, client: AsyncOrq
) -> None:
    server.enqueue(*(hanging_stream() for _ in range(N)))
    parts: list[list[str]] = [[] for _ in range(N)]

    async def all_streaming() -> None:
        for _ in range(1000):
            if all(len(p) == 2 for p in parts):
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"not all streams started: {parts}")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await fan_out.stream_all(client, PROMPTS, parts=parts)

            tg.start_soon(run)
            await all_streaming()
            cancelled_at = time.monotonic()
            tg.cancel_scope.cancel()

    assert parts == [["a", "b"]] * N
    await released(server, cancelled_at, count=N)
    assert client.pool_stats().in_use == 0


async def test_move_on_after_releases_every_stream() -> None:
    """The example's own timeout form: ``move_on_after`` around ``stream_all``."""
    async with (
        FakeOrqServer(api_key=API_KEY, default_delay=0.05) as server,
        AsyncOrq(**client_options(server)) as orq,
    ):
        parts: list[list[str]] = [[] for _ in range(N)]
        with anyio.move_on_after(0.3) as scope:
            await fan_out.stream_all(orq, PROMPTS, max_tokens=100, parts=parts)
        timed_out_at = time.monotonic()
        assert scope.cancelled_caught
        assert all(0 < len(p) < 100 for p in parts)
        await released(server, timed_out_at - 0.01, count=N)
        assert orq.pool_stats().in_use == 0
