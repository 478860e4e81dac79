"""The client's own Python cost per stream, with the network taken out.

``python benchmarks/overhead.py [--tokens N] [--streams N] [--client orq_async|raw]``

aiohttp's ``ClientSession.post`` is replaced by a coroutine that returns at once
with a response whose body (``--tokens`` chunks of the benchmark server's ~250
bytes, then ``[DONE]``) is already in its ``StreamReader``. What is left is the
work of the client in Python and C: building and validating the request,
parsing, decoding and accounting for the chunks, releasing the response. The
clients are those of ``clients.py`` (``orq_async`` and the ``raw`` floor),
unchanged.

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
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.base_protocol import BaseProtocol
from multidict import CIMultiDict, CIMultiDictProxy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import CLIENTS
from server import chunk_payload, sse_frame

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


class _FakeRequest:
    """What ``ClientSession.post`` returns: awaitable, or an async context
    manager that releases the response on exit (as aiohttp's is)."""

    def __init__(self, response: _FakeResponse) -> None:
        self._response = response

    def __await__(self) -> Generator[Any, None, _FakeResponse]:
        return self._get().__await__()

    async def _get(self) -> _FakeResponse:
        return self._response

    async def __aenter__(self) -> _FakeResponse:
        return self._response

    async def __aexit__(self, *exc_info: object) -> None:
        self._response.release()


def fake_post(body: bytes) -> Callable[..., _FakeRequest]:
    protocol: list[BaseProtocol] = []

    def post(self: aiohttp.ClientSession, url: str, **kwargs: Any) -> _FakeRequest:
        if not protocol:
            protocol.append(BaseProtocol(asyncio.get_running_loop()))
        return _FakeRequest(_FakeResponse(body, protocol[0]))

    return post


async def run(name: str, tokens: int, streams: int, quiet: bool) -> None:
    body = b"".join(sse_frame(chunk_payload(i, tokens)) for i in range(tokens))
    aiohttp.ClientSession.post = fake_post(body + b"data: [DONE]\n\n")  # type: ignore[method-assign, assignment]
    # The benchmark's own clients, unchanged: only the network is gone.
    client = CLIENTS[name](URL, 64)
    await client.start()
    for _ in range(50):  # warm-up
        await client.stream(tokens)
    started = time.perf_counter()
    for _ in range(streams):
        await client.stream(tokens)
    elapsed = time.perf_counter() - started
    if not quiet:
        print(
            f"{name}: {elapsed / streams * 1e6:.2f} µs per stream of {tokens} "
            f"chunk(s), {streams} streams"
        )
    await client.aclose()


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
