"""The client's own Python cost per stream, with the network taken out.

``python benchmarks/overhead.py [--tokens N] [--streams N] [--client orq_async|raw]``

aiohttp's ``ClientSession.post`` is replaced by a coroutine that returns at once
with a response whose body (``--tokens`` chunks of the benchmark server's ~250
bytes, then ``[DONE]``) is already in its ``StreamReader``. What is left is the
work of the client in Python and C: building and validating the request,
parsing, decoding and accounting for the chunks, releasing the response. The
``raw`` client is the loop of ``clients.RawClient`` on the same fake.

Wall time in process is noisy on a shared machine; for numbers that do not
drift, count instructions instead, e.g. (per stream: the difference of two runs
divided by the difference of ``--streams``)::

    valgrind --tool=cachegrind --cache-sim=no \\
        python benchmarks/overhead.py --streams 1200 --quiet
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp.base_protocol import BaseProtocol
from multidict import CIMultiDict, CIMultiDictProxy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import API_KEY, FAST_MODEL, PROMPT
from server import chunk_payload, sse_frame

import orq_async
from orq_async._codec import CHUNK_DECODER

URL = "http://127.0.0.1:9"  # never connected to


class _FakeResponse:
    """What ``ClientSession.post`` returns, with the whole body already read."""

    status = 200
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "text/event-stream"}))

    def __init__(self, body: bytes, protocol: BaseProtocol) -> None:
        loop = asyncio.get_running_loop()
        self.content = aiohttp.StreamReader(protocol, 2**16, loop=loop)
        self.content.feed_data(body)
        self.content.feed_eof()
        self.closed = False

    def release(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


def fake_post(body: bytes) -> Callable[..., Awaitable[_FakeResponse]]:
    protocol: list[BaseProtocol] = []

    async def post(self: aiohttp.ClientSession, url: str, **kwargs: Any) -> Any:
        if not protocol:
            protocol.append(BaseProtocol(asyncio.get_running_loop()))
        return _FakeResponse(body, protocol[0])

    return post


async def run(client: str, tokens: int, streams: int, quiet: bool) -> None:
    body = b"".join(sse_frame(chunk_payload(i, tokens)) for i in range(tokens))
    aiohttp.ClientSession.post = fake_post(body + b"data: [DONE]\n\n")  # type: ignore[method-assign, assignment]
    orq = orq_async.AsyncOrq(api_key=API_KEY, server_url=URL, retries=0)
    session = aiohttp.ClientSession()
    encode = msgspec.json.Encoder().encode
    decode = CHUNK_DECODER.decode

    async def with_orq_async() -> None:
        stream = await orq.router.completions.create(
            model=FAST_MODEL, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        async with stream:
            async for chunk in stream:
                chunk.choices[0].text  # noqa: B018

    async def with_raw() -> None:
        # clients.RawClient.stream, on the fake.
        data = encode(
            {
                "model": FAST_MODEL,
                "prompt": PROMPT,
                "max_tokens": tokens,
                "stream": True,
            }
        )
        headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        resp = await session.post(URL, data=data, headers=headers)
        content = resp.content
        buf = b""
        done = False
        while not done:
            piece = await content.readany()
            if not piece:
                break
            buf += piece
            *blocks, buf = buf.split(b"\n\n")
            for block in blocks:
                if block.startswith(b"data: "):
                    payload = block[6:]
                    if payload == b"[DONE]":
                        done = True
                        break
                    decode(payload).choices[0].text  # noqa: B018
        while await content.readany():
            pass
        resp.release()

    one = with_orq_async if client == "orq_async" else with_raw
    for _ in range(50):  # warm-up
        await one()
    started = time.perf_counter()
    for _ in range(streams):
        await one()
    elapsed = time.perf_counter() - started
    if not quiet:
        print(
            f"{client}: {elapsed / streams * 1e6:.2f} µs per stream of {tokens} "
            f"chunk(s), {streams} streams"
        )
    await session.close()
    await orq.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("orq_async", "raw"), default="orq_async")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args()
    asyncio.run(run(args.client, args.tokens, args.streams, args.quiet))


if __name__ == "__main__":
    main()
