"""The client's own Python cost per stream, with the network taken out.

``python benchmarks/overhead.py [--client orq_async|raw]
[--scenario stream|paced|json|chat|chat_tools|chat_paced]
[--loop asyncio|uvloop]
[--tokens N] [--streams N]``

aiohttp's ``ClientSession.post`` is replaced by one that returns at once with a
response whose body is fed to its ``StreamReader`` without a socket: the
benchmark server's bytes (``stream`` and ``paced``: ``--tokens`` chunks of ~250
bytes, then ``[DONE]``; ``json``: the completion of ``--tokens`` tokens; ``chat``:
a chat stream of ``--tokens`` content deltas, ``chat_tools``: one of a tool call
whose arguments arrive over ``--tokens`` chunks, each with its role, finish and
usage-only chunks, as :mod:`server` sends them; ``chat_paced``: the ``chat``
stream). What is left is the work of the client in Python and C: building and
validating the request, parsing, decoding and accounting for the chunks,
releasing the response, and (``paced``, ``chat_paced``) waiting on the event
loop. The clients are those of
``clients.py`` (``orq_async`` and the ``raw`` floor), unchanged.

How the body is handed over:

* ``stream``: the whole body is in the reader before the first read (many
  events per read: the client's own cost per chunk);
* ``chat`` and ``chat_tools``: as ``stream``, whole body at once;
* ``chat_paced``: the ``chat`` body, as ``paced``;
* ``paced``: one SSE event per read, as from a real model. Each time the client
  waits for data, the next event is fed one event-loop turn later (a
  ``call_soon`` callback, as a socket's ``data_received`` would run), and the
  client resumes on the turn after that; ``[DONE]`` and the end of the body come
  together, as the benchmark server writes them. Each chunk thus pays a wait, a
  wake-up and two loop turns: the per-read cost of a paced stream.

Wall time in process is noisy on a shared machine; for numbers that do not
drift, count instructions instead::

    python benchmarks/overhead.py --instructions

runs every client x scenario x loop under ``valgrind --tool=cachegrind`` twice,
with two ``--streams`` counts, and reports instructions per stream (or request)
and per chunk: the difference of the two runs divided by the difference of the
counts, so start-up, imports and warm-up cancel out. One run by hand::

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python benchmarks/overhead.py --scenario paced --streams 300 --quiet
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Generator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.base_protocol import BaseProtocol
from multidict import CIMultiDict, CIMultiDictProxy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import CHAT_MODEL, CLIENTS, TOOL_MODEL
from server import Responses, chat_payloads, chunk_payload, sse_frame

URL = "http://127.0.0.1:9"  # never connected to
SCENARIOS = ("stream", "paced", "json", "chat", "chat_tools", "chat_paced")
#: Chat scenario -> the model that selects its stream.
CHAT = {"chat": CHAT_MODEL, "chat_tools": TOOL_MODEL, "chat_paced": CHAT_MODEL}
#: Scenarios whose body is handed over one event per read.
PACED = ("paced", "chat_paced")
LOOPS = ("asyncio", "uvloop")
#: The two ``--streams`` counts of an instruction count (their difference is
#: measured), per scenario.
ICOUNT_STREAMS = {
    "stream": (40, 140),
    "paced": (40, 140),
    "json": (200, 700),
    "chat": (40, 140),
    "chat_tools": (60, 200),
    "chat_paced": (40, 140),
}


def default_tokens(scenario: str) -> int:
    """The benchmark's size: 100 deltas, or 50 tool-argument chunks."""
    return 50 if scenario == "chat_tools" else 100


def chunks_per_stream(scenario: str, tokens: int) -> int:
    """Chunks read per stream: a chat stream adds its role, finish and usage
    chunks to the ``tokens`` deltas."""
    return tokens + 3 if scenario in CHAT else tokens


class _PacedReader(aiohttp.StreamReader):
    """A body reader that receives the next piece one loop turn after its
    reader starts to wait, so that every read returns exactly one piece."""

    def __init__(
        self,
        protocol: BaseProtocol,
        loop: asyncio.AbstractEventLoop,
        pieces: list[bytes],
    ) -> None:
        super().__init__(protocol, 2**16, loop=loop)
        self._pieces = pieces[::-1]  # pop() takes the next one

    def _wait(self, func_name: str) -> Coroutine[Any, Any, None]:
        self._loop.call_soon(self._feed_next)
        return super()._wait(func_name)

    def _feed_next(self) -> None:
        pieces = self._pieces
        if pieces:
            self.feed_data(pieces.pop())
            if not pieces:
                self.feed_eof()


class _FakeResponse:
    """What ``ClientSession.post`` returns, its body in (or paced into) the reader."""

    status = 200

    def __init__(
        self,
        pieces: list[bytes],
        paced: bool,
        headers: CIMultiDictProxy[str],
        protocol: BaseProtocol,
    ) -> None:
        self.headers = headers
        loop = asyncio.get_running_loop()
        if paced:
            self.content = _PacedReader(protocol, loop, pieces)
        else:
            self.content = aiohttp.StreamReader(protocol, 2**16, loop=loop)
            self.content.feed_data(b"".join(pieces))
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


class _Transport:
    """Stands for the socket: a reader only waits on a connected protocol."""


def fake_post(
    pieces: list[bytes], content_type: str, paced: bool = False
) -> Callable[..., _FakeRequest]:
    protocol: list[BaseProtocol] = []
    headers = CIMultiDictProxy(
        CIMultiDict({"Content-Type": content_type, "X-Request-Id": "bench"})
    )

    def post(self: aiohttp.ClientSession, url: str, **kwargs: Any) -> _FakeRequest:
        if not protocol:
            protocol.append(BaseProtocol(asyncio.get_running_loop()))
            protocol[0].transport = _Transport()  # type: ignore[assignment]
        return _FakeRequest(_FakeResponse(pieces, paced, headers, protocol[0]))

    return post


async def run(name: str, scenario: str, tokens: int, count: int, quiet: bool) -> None:
    if scenario == "json":
        body = Responses().json(tokens).partition(b"\r\n\r\n")[2]
        post = fake_post([body], "application/json")
    elif scenario in CHAT:
        tool = scenario == "chat_tools"
        events = [sse_frame(p) for p in chat_payloads(tokens, tool, usage=True)]
        events.append(sse_frame(b"[DONE]"))
        post = fake_post(events, "text/event-stream", paced=scenario in PACED)
    else:
        events = [sse_frame(chunk_payload(i, tokens)) for i in range(tokens)]
        events.append(sse_frame(b"[DONE]"))
        post = fake_post(events, "text/event-stream", paced=scenario in PACED)
    aiohttp.ClientSession.post = post  # type: ignore[method-assign, assignment]
    # The benchmark's own clients, unchanged: only the network is gone.
    client = CLIENTS[name](URL, 64)
    await client.start()
    one: Callable[[int], Coroutine[Any, Any, object]]
    if scenario == "json":
        one = client.complete
        want: object = None
    elif scenario in CHAT:
        model = CHAT[scenario]

        async def one(n: int) -> object:
            chunks, _length = await client.chat(n, model)
            return chunks

        want = chunks_per_stream(scenario, tokens)
    else:
        one = client.stream
        want = tokens
    got = await one(tokens)
    if want is not None and got != want:
        raise RuntimeError(f"{name} read {got} chunks, expected {want}")
    for _ in range(49):  # warm-up
        await one(tokens)
    started = time.perf_counter()
    for _ in range(count):
        await one(tokens)
    elapsed = time.perf_counter() - started
    if not quiet:
        what = "completion" if scenario == "json" else f"{scenario} stream"
        if scenario in CHAT:
            what += f" ({chunks_per_stream(scenario, tokens)} chunks)"
        print(
            f"{name}: {elapsed / count * 1e6:.2f} µs per {what} of {tokens} "
            f"token(s), {count} of them"
        )
    await client.aclose()


# --- instruction counts (valgrind) ---------------------------------------------


def instructions(
    client: str, scenario: str, loop: str, tokens: int, streams: int
) -> int:
    """Instructions of one whole run of this script under cachegrind."""
    cmd = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--client", client,
        "--scenario", scenario,
        "--loop", loop,
        "--tokens", str(tokens),
        "--streams", str(streams),
        "--quiet",
    ]  # fmt: skip
    # A fixed hash seed: set and dict layouts, hence their costs, repeat.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def count_one(client: str, scenario: str, loop: str, tokens: int) -> dict[str, Any]:
    """Instructions per stream (or request) and per chunk of one setting."""
    low, high = ICOUNT_STREAMS[scenario]
    a = instructions(client, scenario, loop, tokens, low)
    b = instructions(client, scenario, loop, tokens, high)
    per_request = (b - a) / (high - low)
    chunks = chunks_per_stream(scenario, tokens)
    per_chunk = per_request / chunks if scenario != "json" else None
    return {
        "client": client,
        "scenario": scenario,
        "loop": loop,
        "tokens": tokens,
        "per_request": per_request,
        "per_chunk": per_chunk,
    }


def count_all(
    scenarios: list[str], loops: list[str], tokens: int | None, jobs: int = 1
) -> list[dict[str, Any]]:
    """:func:`count_one` for raw and orq_async over every scenario and loop."""
    from concurrent.futures import ThreadPoolExecutor

    settings = [
        (client, scenario, loop)
        for scenario in scenarios
        for loop in loops
        for client in ("raw", "orq_async")
    ]
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(
            pool.map(lambda s: count_one(*s, tokens or default_tokens(s[1])), settings)
        )


def icount_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: raw floor, orq_async and their ratio per setting."""
    by = {(r["scenario"], r["loop"], r["client"]): r for r in rows}
    lines = [
        "| scenario | loop | raw floor | orq_async | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        for loop in LOOPS:
            raw, orq = (
                by.get((scenario, loop, "raw")),
                by.get((scenario, loop, "orq_async")),
            )
            if raw is None or orq is None:
                continue
            key = "per_request" if scenario == "json" else "per_chunk"
            unit = "/request" if scenario == "json" else "/chunk"
            lines.append(
                f"| {scenario} | {loop} | {raw[key]:,.0f} {unit} | "
                f"{orq[key]:,.0f} {unit} | {orq[key] / raw[key]:.2f}× |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("orq_async", "raw"), default="orq_async")
    parser.add_argument("--scenario", choices=SCENARIOS, default="stream")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument(
        "--tokens",
        type=int,
        default=None,
        help="chunks per stream (deltas for chat); default 100, 50 for chat_tools",
    )
    parser.add_argument(
        "--streams", type=int, default=2000, help="requests to time (any scenario)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions (valgrind) for raw and orq_async, every "
        "--scenarios x --loops, and print a table",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--loops", default=",".join(LOOPS))
    parser.add_argument("--jobs", type=int, default=1, help="valgrind runs at once")
    args = parser.parse_args()
    if args.instructions:
        if shutil.which("valgrind") is None:
            sys.exit("--instructions needs valgrind (e.g. apt-get install valgrind)")
        rows = count_all(
            args.scenarios.split(","), args.loops.split(","), args.tokens, args.jobs
        )
        print(icount_table(rows))
        return
    tokens = args.tokens or default_tokens(args.scenario)
    coro = run(args.client, args.scenario, tokens, args.streams, args.quiet)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    main()
