"""The benchmark clients: one client kind x one scenario per process.

``python benchmarks/clients.py CLIENT SCENARIO --url http://127.0.0.1:PORT`` runs
one measurement and prints it as one JSON line on stdout. :mod:`run` starts one
process per measurement, so ``resource.getrusage`` and the peak RSS belong to that
client alone (nothing another client imported or allocated is counted).

Clients (:data:`CLIENTS`):

* ``orq_async``: this package, ``AsyncOrq(..., retries=0)``;
* ``raw``: aiohttp + msgspec with no client library: ``iter_any()``, one
  ``split(b"\\n\\n")`` per read, the package's typed msgspec decoders. The practical
  floor: it skips everything a real client must do (errors, timeouts, retries, spec
  compliance);
* ``openai``: ``openai.AsyncOpenAI`` pointed at ``<server>/v2/router``, legacy
  completions (``client.completions.create``) and chat completions
  (``client.chat.completions.create``), ``max_retries=0``, a pool as large as the
  concurrency;
* ``orq_sdk``: the official ``orq-ai-sdk`` (``Orq(...).router.completions
  .create_async`` and ``.router.chat.completions.create_async``) on an
  ``httpx.AsyncClient`` with a pool as large as the concurrency.

Scenarios (:data:`SCENARIOS`):

* ``stream``: rounds of ``--concurrency`` concurrent streams of ``--tokens`` chunks,
  each read to ``[DONE]``; the server writes each stream's body at once (so a read
  often holds many events);
* ``paced``: the same, with the server pacing the chunks (one every 2 ms), so most
  reads hold one event, as with a real model;
* ``json``: rounds of ``--concurrency`` concurrent non-streamed completions;
* ``memory``: ``--streams`` concurrent *slow* streams held open at once, each after
  its first chunk arrived; RSS is read from ``/proc/self/statm``;
* ``latency``: ``--min-rounds`` rounds of ``--concurrency`` streams paced at one
  chunk every ``--interval-ms``, each chunk stamped by the server with its write
  time (``time.monotonic_ns()``, ``CLOCK_MONOTONIC``, shared by all processes on
  Linux): p50/p90/p99/max of delivery minus write, over every chunk but each
  stream's first. The raw floor's numbers are the loop's and the kernel's own
  delay; the difference is what the client adds.
* ``chat``: rounds of ``--concurrency`` concurrent chat streams
  (``POST /v2/router/chat/completions``, ``stream_options.include_usage``) of
  ``--tokens`` content deltas, plus the role, finish and usage-only chunks; each
  client reads ``chunk.choices[0].delta.content`` of every chunk whose
  ``choices`` is not empty and joins the text;
* ``chat_tools``: the same with one tool call whose JSON arguments arrive over
  ``--tool-pieces`` chunks (the request carries a ``tools`` definition); each
  client joins ``delta.tool_calls[].function.arguments``.

  Both chat scenarios count every chunk read (``--tokens`` + 3, or
  ``--tool-pieces`` + 3), and check the joined text or arguments.

CPU time is ``ru_utime + ru_stime`` of ``getrusage(RUSAGE_SELF)``, taken around
the measured rounds only: imports, client construction and one warm-up round (which
also fills the connection pool) are outside it. Rounds repeat until at least
``--min-cpu`` seconds of CPU were measured (and at least ``--min-rounds`` rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

API_KEY = "bench-key"
PROMPT = "Say hello to the benchmark"
FAST_MODEL = "openai/gpt-3.5-turbo-instruct"
# "slow" / "paced" in the name set the server's pacing: see server.py
SLOW_MODEL = "openai/slow-gpt-3.5-turbo-instruct"
PACED_MODEL = "openai/paced-gpt-3.5-turbo-instruct"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CHAT_MODEL = "openai/gpt-4o"
# "tool" in the name makes the server stream a tool call: see server.py
TOOL_MODEL = "openai/gpt-4o-tool"
MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "search_flights",
            "description": "Search flights between two airports.",
            "parameters": {
                "type": "object",
                "properties": {
                    "passengers": {"type": "integer"},
                    "cabin": {"type": "string"},
                    "legs": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["passengers", "legs"],
            },
        },
    }
]
INCLUDE_USAGE: dict[str, Any] = {"include_usage": True}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    """Resident set size now (``ru_maxrss`` only gives the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- the clients ---------------------------------------------------------------
#
# Each client is a class with the same five coroutines. Every one of them does what
# an application would: build the request through the library's public API, read
# every chunk as a typed object, close the stream.


class Client:
    """The interface every client kind implements."""

    name = ""

    def __init__(self, url: str, pool: int) -> None:
        self.url = url
        self.pool = pool

    async def start(self) -> None:
        """Build the client (inside the running loop)."""

    async def stream(self, tokens: int, model: str = FAST_MODEL) -> int:
        """One whole stream; return the number of chunks read."""
        raise NotImplementedError

    async def stream_stamped(self, tokens: int, model: str, out: list[int]) -> int:
        """One whole stream of a ``stamped`` model: for each chunk after the first,
        append to ``out`` the nanoseconds from the server's write (its
        ``created``) to the chunk's delivery here; return the number of chunks."""
        raise NotImplementedError

    async def complete(self, tokens: int) -> int:
        """One non-streamed completion; return the length of its text."""
        raise NotImplementedError

    async def open_slow(self, tokens: int) -> Any:
        """Open a slow stream and read its first chunk; return what to keep open."""
        raise NotImplementedError

    async def close_slow(self, handle: Any) -> None:
        raise NotImplementedError

    async def chat(self, deltas: int, model: str) -> tuple[int, int]:
        """One whole chat stream (``stream_options.include_usage``) of ``deltas``
        content deltas, or tool-argument pieces if ``model`` names a tool stream;
        return the number of chunks read and the length of the joined text (or
        arguments)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def arguments(calls: Any) -> list[str]:
    """The argument pieces of a chunk's tool-call fragments (any library's)."""
    return [
        c.function.arguments
        for c in calls
        if c.function is not None and c.function.arguments
    ]


def chat_tools(model: str) -> list[dict[str, Any]] | None:
    """The ``tools`` of a chat request: the tool stream's request defines one."""
    return TOOLS if "tool" in model else None


class OrqAsyncClient(Client):
    name = "orq_async"

    async def start(self) -> None:
        import orq_async

        self.orq = orq_async.AsyncOrq(
            api_key=API_KEY,
            server_url=self.url,
            limits=orq_async.PoolLimits(max_connections=self.pool),
            retries=0,
        )

    async def stream(self, tokens: int, model: str = FAST_MODEL) -> int:
        stream = await self.orq.router.completions.create(
            model=model, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        n = 0
        async with stream:
            async for chunk in stream:
                chunk.choices[0].text  # noqa: B018 - touch the field, as a caller would
                n += 1
        return n

    async def stream_stamped(self, tokens: int, model: str, out: list[int]) -> int:
        stream = await self.orq.router.completions.create(
            model=model, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        n = 0
        now = time.monotonic_ns
        async with stream:
            async for chunk in stream:
                if n:
                    out.append(now() - chunk.created)  # type: ignore[operator]
                n += 1
        return n

    async def complete(self, tokens: int) -> int:
        res = await self.orq.router.completions.create(
            model=FAST_MODEL, prompt=PROMPT, max_tokens=tokens
        )
        return len(res.choices[0].text)

    async def open_slow(self, tokens: int) -> Any:
        stream = await self.orq.router.completions.create(
            model=SLOW_MODEL, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        await stream.__anext__()
        return stream

    async def close_slow(self, handle: Any) -> None:
        await handle.aclose()

    async def chat(self, deltas: int, model: str) -> tuple[int, int]:
        tools = chat_tools(model)
        if tools is None:
            stream = await self.orq.router.chat.completions.create(
                model=model,
                messages=MESSAGES,
                max_completion_tokens=deltas,
                stream=True,
                stream_options=INCLUDE_USAGE,
            )
        else:
            stream = await self.orq.router.chat.completions.create(
                model=model,
                messages=MESSAGES,
                max_completion_tokens=deltas,
                tools=tools,
                stream=True,
                stream_options=INCLUDE_USAGE,
            )
        n = 0
        parts: list[str] = []
        async with stream:
            async for chunk in stream:
                n += 1
                if chunk.choices:
                    delta = chunk.choices[0].delta
                    if delta.content:
                        parts.append(delta.content)
                    if delta.tool_calls:
                        parts += arguments(delta.tool_calls)
        return n, len("".join(parts))

    async def aclose(self) -> None:
        await self.orq.aclose()


class RawClient(Client):
    """aiohttp + msgspec and nothing else: the practical floor."""

    name = "raw"

    async def start(self) -> None:
        import aiohttp
        import msgspec

        from orq_async._chat_codec import CHAT_CHUNK_DECODER
        from orq_async._codec import CHUNK_DECODER, COMPLETION_DECODER

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.pool),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self.encode = msgspec.json.Encoder().encode
        self.decode_chunk = CHUNK_DECODER.decode
        self.decode_completion = COMPLETION_DECODER.decode
        self.decode_chat_chunk = CHAT_CHUNK_DECODER.decode
        self.endpoint = self.url + "/v2/router/completions"
        self.chat_endpoint = self.url + "/v2/router/chat/completions"
        self.auth = f"Bearer {API_KEY}"

    def _headers(self, accept: str) -> dict[str, str]:
        return {
            "Authorization": self.auth,
            "Content-Type": "application/json",
            "Accept": accept,
        }

    async def stream(self, tokens: int, model: str = FAST_MODEL) -> int:
        body = self.encode(
            {"model": model, "prompt": PROMPT, "max_tokens": tokens, "stream": True}
        )
        decode = self.decode_chunk
        n = 0
        async with self.session.post(
            self.endpoint, data=body, headers=self._headers("text/event-stream")
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            content = resp.content
            buf = b""
            done = False
            while not done:
                data = await content.readany()
                if not data:
                    break
                buf += data
                *blocks, buf = buf.split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"data: "):
                        payload = block[6:]
                        if payload == b"[DONE]":
                            done = True
                            break
                        decode(payload).choices[0].text  # noqa: B018
                        n += 1
            # Read the (already buffered) end of the body so the connection is reused.
            while await content.readany():
                pass
        return n

    async def stream_stamped(self, tokens: int, model: str, out: list[int]) -> int:
        body = self.encode(
            {"model": model, "prompt": PROMPT, "max_tokens": tokens, "stream": True}
        )
        decode = self.decode_chunk
        now = time.monotonic_ns
        n = 0
        async with self.session.post(
            self.endpoint, data=body, headers=self._headers("text/event-stream")
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            content = resp.content
            buf = b""
            done = False
            while not done:
                data = await content.readany()
                if not data:
                    break
                buf += data
                *blocks, buf = buf.split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"data: "):
                        payload = block[6:]
                        if payload == b"[DONE]":
                            done = True
                            break
                        chunk = decode(payload)
                        if n:
                            out.append(now() - chunk.created)
                        n += 1
            while await content.readany():
                pass
        return n

    async def complete(self, tokens: int) -> int:
        body = self.encode(
            {"model": FAST_MODEL, "prompt": PROMPT, "max_tokens": tokens}
        )
        async with self.session.post(
            self.endpoint, data=body, headers=self._headers("application/json")
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            res = self.decode_completion(await resp.read())
        return len(res.choices[0].text)

    async def open_slow(self, tokens: int) -> Any:
        body = self.encode(
            {
                "model": SLOW_MODEL,
                "prompt": PROMPT,
                "max_tokens": tokens,
                "stream": True,
            }
        )
        resp = await self.session.post(
            self.endpoint, data=body, headers=self._headers("text/event-stream")
        )
        buf = b""
        while True:
            buf += await resp.content.readany()
            *blocks, buf = buf.split(b"\n\n")
            if blocks:
                self.decode_chunk(blocks[0][6:])
                return resp, buf

    async def close_slow(self, handle: Any) -> None:
        handle[0].close()

    async def chat(self, deltas: int, model: str) -> tuple[int, int]:
        request: dict[str, Any] = {
            "messages": MESSAGES,
            "model": model,
            "max_completion_tokens": deltas,
            "stream": True,
            "stream_options": INCLUDE_USAGE,
        }
        tools = chat_tools(model)
        if tools is not None:
            request["tools"] = tools
        decode = self.decode_chat_chunk
        n = 0
        parts: list[str] = []
        async with self.session.post(
            self.chat_endpoint,
            data=self.encode(request),
            headers=self._headers("text/event-stream"),
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            content = resp.content
            buf = b""
            done = False
            while not done:
                data = await content.readany()
                if not data:
                    break
                buf += data
                *blocks, buf = buf.split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"data: "):
                        payload = block[6:]
                        if payload == b"[DONE]":
                            done = True
                            break
                        chunk = decode(payload)
                        n += 1
                        if chunk.choices:
                            delta = chunk.choices[0].delta
                            if delta.content:
                                parts.append(delta.content)
                            if delta.tool_calls:
                                parts += arguments(delta.tool_calls)
            while await content.readany():
                pass
        return n, len("".join(parts))

    async def aclose(self) -> None:
        await self.session.close()


class OpenAIClient(Client):
    name = "openai"

    async def start(self) -> None:
        import httpx2
        import openai

        self.client = openai.AsyncOpenAI(
            api_key=API_KEY,
            base_url=self.url + "/v2/router",
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(
                    max_connections=self.pool, max_keepalive_connections=self.pool
                )
            ),
        )

    async def stream(self, tokens: int, model: str = FAST_MODEL) -> int:
        stream = await self.client.completions.create(
            model=model, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        n = 0
        async with stream:
            async for chunk in stream:
                chunk.choices[0].text  # noqa: B018
                n += 1
        return n

    async def stream_stamped(self, tokens: int, model: str, out: list[int]) -> int:
        stream = await self.client.completions.create(
            model=model, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        n = 0
        now = time.monotonic_ns
        async with stream:
            async for chunk in stream:
                if n:
                    out.append(now() - chunk.created)
                n += 1
        return n

    async def complete(self, tokens: int) -> int:
        res = await self.client.completions.create(
            model=FAST_MODEL, prompt=PROMPT, max_tokens=tokens
        )
        return len(res.choices[0].text)

    async def open_slow(self, tokens: int) -> Any:
        stream = await self.client.completions.create(
            model=SLOW_MODEL, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        await stream.__anext__()
        return stream

    async def close_slow(self, handle: Any) -> None:
        await handle.close()

    async def chat(self, deltas: int, model: str) -> tuple[int, int]:
        tools = chat_tools(model)
        if tools is None:
            stream = await self.client.chat.completions.create(
                model=model,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_completion_tokens=deltas,
                stream=True,
                stream_options=INCLUDE_USAGE,  # type: ignore[arg-type]
            )
        else:
            stream = await self.client.chat.completions.create(
                model=model,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_completion_tokens=deltas,
                tools=tools,  # type: ignore[arg-type]
                stream=True,
                stream_options=INCLUDE_USAGE,  # type: ignore[arg-type]
            )
        n = 0
        parts: list[str] = []
        async with stream:
            async for chunk in stream:
                n += 1
                if chunk.choices:
                    delta = chunk.choices[0].delta
                    if delta.content:
                        parts.append(delta.content)
                    if delta.tool_calls:
                        parts += arguments(delta.tool_calls)
        return n, len("".join(parts))

    async def aclose(self) -> None:
        await self.client.close()


class OrqSDKClient(Client):
    name = "orq_sdk"

    async def start(self) -> None:
        import httpx
        from orq_ai_sdk import Orq

        self.http = httpx.AsyncClient(
            follow_redirects=True,
            limits=httpx.Limits(
                max_connections=self.pool, max_keepalive_connections=self.pool
            ),
            timeout=600,
        )
        self.sdk = Orq(api_key=API_KEY, server_url=self.url, async_client=self.http)

    async def stream(self, tokens: int, model: str = FAST_MODEL) -> int:
        res = await self.sdk.router.completions.create_async(
            model=model, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        n = 0
        async with res:
            async for event in res:
                event.data.choices[0].text  # noqa: B018
                n += 1
        return n

    async def stream_stamped(self, tokens: int, model: str, out: list[int]) -> int:
        res = await self.sdk.router.completions.create_async(
            model=model, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        n = 0
        now = time.monotonic_ns
        async with res:
            async for event in res:
                if n:
                    out.append(now() - int(event.data.created))
                n += 1
        return n

    async def complete(self, tokens: int) -> int:
        res = await self.sdk.router.completions.create_async(
            model=FAST_MODEL, prompt=PROMPT, max_tokens=tokens, stream=False
        )
        return len(res.choices[0].text)

    async def open_slow(self, tokens: int) -> Any:
        res = await self.sdk.router.completions.create_async(
            model=SLOW_MODEL, prompt=PROMPT, max_tokens=tokens, stream=True
        )
        await res.__anext__()
        return res

    async def close_slow(self, handle: Any) -> None:
        await handle.close()

    async def chat(self, deltas: int, model: str) -> tuple[int, int]:
        tools = chat_tools(model)
        if tools is None:
            res = await self.sdk.router.chat.completions.create_async(
                messages=MESSAGES,  # type: ignore[arg-type]
                model=model,
                max_completion_tokens=deltas,
                stream=True,
                stream_options=INCLUDE_USAGE,  # type: ignore[arg-type]
            )
        else:
            res = await self.sdk.router.chat.completions.create_async(
                messages=MESSAGES,  # type: ignore[arg-type]
                model=model,
                max_completion_tokens=deltas,
                tools=tools,  # type: ignore[arg-type]
                stream=True,
                stream_options=INCLUDE_USAGE,  # type: ignore[arg-type]
            )
        n = 0
        parts: list[str] = []
        async with res:  # type: ignore[union-attr]
            async for event in res:  # type: ignore[union-attr]
                n += 1
                chunk = event.data
                if chunk.choices:
                    delta = chunk.choices[0].delta
                    if delta.content:
                        parts.append(delta.content)
                    if delta.tool_calls:
                        parts += arguments(delta.tool_calls)
        return n, len("".join(parts))

    async def aclose(self) -> None:
        await self.http.aclose()


CLIENTS: dict[str, type[Client]] = {
    c.name: c for c in (OrqAsyncClient, RawClient, OpenAIClient, OrqSDKClient)
}


# --- the scenarios -------------------------------------------------------------


async def _rounds(
    one_round: Callable[[], Awaitable[int]], *, min_cpu: float, min_rounds: int
) -> dict[str, float]:
    """Warm up once, then time rounds until enough CPU time was measured."""
    await one_round()  # warm-up: imports done lazily, pool filled, caches primed
    gc.collect()
    rounds = items = 0
    wall0 = time.perf_counter()
    cpu0 = cpu_seconds()
    while True:
        items += await one_round()
        rounds += 1
        cpu = cpu_seconds() - cpu0
        if rounds >= min_rounds and (cpu >= min_cpu or rounds >= 500):
            break
    wall = time.perf_counter() - wall0
    return {"rounds": rounds, "items": items, "cpu_s": cpu, "wall_s": wall}


async def scenario_stream(
    client: Client, args: argparse.Namespace, model: str = FAST_MODEL
) -> dict[str, Any]:
    conc, tokens = args.concurrency, args.tokens

    async def one_round() -> int:
        counts = await asyncio.gather(
            *(client.stream(tokens, model) for _ in range(conc))
        )
        if any(c != tokens for c in counts):
            raise RuntimeError(f"expected {tokens} chunks per stream, got {counts}")
        return sum(counts)

    r = await _rounds(one_round, min_cpu=args.min_cpu, min_rounds=args.min_rounds)
    requests = r["rounds"] * conc
    return {
        **r,
        "chunks": r["items"],
        "requests": requests,
        "us_per_chunk": r["cpu_s"] / r["items"] * 1e6,
        "us_per_request": r["cpu_s"] / requests * 1e6,
        "chunks_per_s_wall": r["items"] / r["wall_s"],
    }


async def scenario_json(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    conc, tokens = args.concurrency, args.tokens

    async def one_round() -> int:
        lengths = await asyncio.gather(*(client.complete(tokens) for _ in range(conc)))
        if not all(lengths):
            raise RuntimeError("empty completion text")
        return len(lengths)

    r = await _rounds(one_round, min_cpu=args.min_cpu, min_rounds=args.min_rounds)
    return {
        **r,
        "requests": r["items"],
        "us_per_request": r["cpu_s"] / r["items"] * 1e6,
        "requests_per_s_wall": r["items"] / r["wall_s"],
    }


async def scenario_memory(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    n, tokens = args.streams, args.tokens
    # Warm every code path first (fast streams and one slow stream), so that what
    # is measured below is the cost of the open streams, not of first use.
    await asyncio.gather(*(client.stream(tokens) for _ in range(8)))
    await client.close_slow(await client.open_slow(tokens))
    await asyncio.sleep(0.2)
    gc.collect()
    base = rss_bytes()
    cpu0 = cpu_seconds()
    wall0 = time.perf_counter()
    handles = await asyncio.gather(*(client.open_slow(tokens) for _ in range(n)))
    wall_open = time.perf_counter() - wall0
    cpu_open = cpu_seconds() - cpu0
    gc.collect()
    held = rss_bytes()
    for h in handles:
        await client.close_slow(h)
    del handles
    return {
        "streams": n,
        "rss_base_kb": base / 1024,
        "rss_held_kb": held / 1024,
        "kb_per_stream": (held - base) / 1024 / n,
        "open_cpu_s": cpu_open,
        "open_wall_s": wall_open,
        "us_per_open": cpu_open / n * 1e6,
    }


async def scenario_paced(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    return await scenario_stream(client, args, PACED_MODEL)


def percentile(ordered: list[int], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of sorted values."""
    return float(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))])


async def scenario_latency(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Rounds of ``--concurrency`` paced streams of a ``stamped`` model, one chunk
    every ``--interval-ms``: the delay from the server's write of each chunk (but
    the first of a stream) to its delivery by ``async for``."""
    conc, tokens = args.concurrency, args.tokens
    model = f"openai/stamped-{args.interval_ms}-gpt-3.5-turbo-instruct"
    # Warm-up: opens the connections, primes the caches (short streams).
    await asyncio.gather(*(client.stream_stamped(2, model, []) for _ in range(conc)))
    gc.collect()
    delays: list[int] = []
    cpu0, wall0 = cpu_seconds(), time.perf_counter()

    async def staggered(i: int) -> int:
        # Streams start spread over one interval, as independent requests would,
        # not all in step (which would make every chunk arrive in one burst).
        await asyncio.sleep(i / conc * args.interval_ms / 1000)
        return await client.stream_stamped(tokens, model, delays)

    for _ in range(args.min_rounds):
        counts = await asyncio.gather(*(staggered(i) for i in range(conc)))
        if any(c != tokens for c in counts):
            raise RuntimeError(f"expected {tokens} chunks per stream, got {counts}")
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    delays.sort()
    chunks = args.min_rounds * conc * tokens
    return {
        "streams": conc,
        "interval_ms": args.interval_ms,
        "samples": len(delays),
        "p50_us": percentile(delays, 50) / 1e3,
        "p90_us": percentile(delays, 90) / 1e3,
        "p99_us": percentile(delays, 99) / 1e3,
        "max_us": delays[-1] / 1e3,
        "us_per_chunk": cpu / chunks * 1e6,
        "cpu_s": cpu,
        "wall_s": wall,
    }


async def scenario_chat(
    client: Client, args: argparse.Namespace, model: str = CHAT_MODEL
) -> dict[str, Any]:
    """Rounds of ``--concurrency`` concurrent chat streams; CPU per chunk read."""
    from server import WORDS, tool_arguments

    conc = args.concurrency
    deltas = args.tool_pieces if "tool" in model else args.tokens
    if "tool" in model:
        want_length = len("".join(tool_arguments(deltas)))
    else:
        want_length = len("".join(WORDS[i % len(WORDS)] for i in range(deltas)))
    want = (deltas + 3, want_length)  # + the role, finish and usage-only chunks

    async def one_round() -> int:
        got = await asyncio.gather(*(client.chat(deltas, model) for _ in range(conc)))
        if any(g != want for g in got):
            raise RuntimeError(f"expected (chunks, length) {want} per stream: {got}")
        return sum(g[0] for g in got)

    r = await _rounds(one_round, min_cpu=args.min_cpu, min_rounds=args.min_rounds)
    requests = r["rounds"] * conc
    return {
        **r,
        "chunks": r["items"],
        "chunks_per_stream": want[0],
        "requests": requests,
        "us_per_chunk": r["cpu_s"] / r["items"] * 1e6,
        "us_per_request": r["cpu_s"] / requests * 1e6,
        "chunks_per_s_wall": r["items"] / r["wall_s"],
    }


async def scenario_chat_tools(
    client: Client, args: argparse.Namespace
) -> dict[str, Any]:
    return await scenario_chat(client, args, TOOL_MODEL)


SCENARIOS = {
    "stream": scenario_stream,
    "paced": scenario_paced,
    "json": scenario_json,
    "memory": scenario_memory,
    "latency": scenario_latency,
    "chat": scenario_chat,
    "chat_tools": scenario_chat_tools,
}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    pool = args.streams if args.scenario == "memory" else args.concurrency
    client = CLIENTS[args.client](args.url, pool)
    await client.start()
    try:
        result = await SCENARIOS[args.scenario](client, args)
    finally:
        await client.aclose()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--url", required=True, help="the benchmark server's base URL")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--streams", type=int, default=1000, help="memory scenario")
    parser.add_argument("--min-cpu", type=float, default=1.0)
    parser.add_argument("--min-rounds", type=int, default=2)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument(
        "--interval-ms", type=int, default=20, help="latency: ms between chunks"
    )
    parser.add_argument(
        "--tool-pieces",
        type=int,
        default=50,
        help="chat_tools: chunks carrying the tool call's arguments",
    )
    args = parser.parse_args(argv)
    raise_fd_limit()
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(_main(args))
    else:
        result = asyncio.run(_main(args))
    result.update(
        client=args.client,
        scenario=args.scenario,
        loop=args.loop,
        peak_rss_kb=peak_rss_kb(),
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
