"""The client's own Python cost per stream, with the network taken out.

``python benchmarks/overhead.py [--client orq_async|raw] [--scenario stream|json]
[--tokens N] [--streams N]``

aiohttp's ``ClientSession.post`` is replaced by one that returns at once with a
response whose body is already in its ``StreamReader``: the benchmark server's
bytes (``stream``: ``--tokens`` chunks of ~250 bytes, then ``[DONE]``; ``json``:
the completion of ``--tokens`` tokens). What is left is the
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
from server import Responses, chunk_payload, sse_frame

URL = "http://127.0.0.1:9"  # never connected to


class _FakeResponse:
    """What ``ClientSession.post`` returns, with the whole body already read."""

    status = 200

    def __init__(
        self, body: bytes, headers: CIMultiDictProxy[str], protocol: BaseProtocol
    ) -> None:
        self.headers = headers
        loop = asyncio.get_running_loop()
        self.content = aiohttp.StreamReader(protocol, 2**16, loop=loop)
        self.content.feed_data(body)
        self.content.feed_eof()
        self.closed = False

    async def read(self) -> bytes:
        return await self.content.read()

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


def fake_post(body: bytes, content_type: str) -> Callable[..., _FakeRequest]:
    protocol: list[BaseProtocol] = []
    headers = CIMultiDictProxy(
        CIMultiDict({"Content-Type": content_type, "X-Request-Id": "bench"})
    )

    def post(self: aiohttp.ClientSession, url: str, **kwargs: Any) -> _FakeRequest:
        if not protocol:
            protocol.append(BaseProtocol(asyncio.get_running_loop()))
        return _FakeRequest(_FakeResponse(body, headers, protocol[0]))

    return post


async def run(name: str, scenario: str, tokens: int, count: int, quiet: bool) -> None:
    if scenario == "stream":
        events = b"".join(sse_frame(chunk_payload(i, tokens)) for i in range(tokens))
        post = fake_post(events + b"data: [DONE]\n\n", "text/event-stream")
    else:
        body = Responses().json(tokens).partition(b"\r\n\r\n")[2]
        post = fake_post(body, "application/json")
    aiohttp.ClientSession.post = post  # type: ignore[method-assign, assignment]
    # The benchmark's own clients, unchanged: only the network is gone.
    client = CLIENTS[name](URL, 64)
    await client.start()
    one = client.stream if scenario == "stream" else client.complete
    for _ in range(50):  # warm-up
        await one(tokens)
    started = time.perf_counter()
    for _ in range(count):
        await one(tokens)
    elapsed = time.perf_counter() - started
    if not quiet:
        what = "stream" if scenario == "stream" else "completion"
        print(
            f"{name}: {elapsed / count * 1e6:.2f} µs per {what} of {tokens} "
            f"token(s), {count} of them"
        )
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("orq_async", "raw"), default="orq_async")
    parser.add_argument("--scenario", choices=("stream", "json"), default="stream")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument(
        "--streams", type=int, default=2000, help="requests to time (either scenario)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args()
    asyncio.run(run(args.client, args.scenario, args.tokens, args.streams, args.quiet))


if __name__ == "__main__":
    main()
