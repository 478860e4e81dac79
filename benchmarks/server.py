"""The benchmark server: a fake Orq router (legacy and chat completions) in its own
process.

``python benchmarks/server.py [--port 0] [--slow-interval 1.0]`` prints
``READY <port>`` on stdout once it listens. It is a bare ``asyncio.Protocol`` on
uvloop (when installed) with every response pre-encoded, so that the clients, not
the server, are what a benchmark measures.

What it serves:

* ``stream: false`` -> one ``application/json`` completion whose text has
  ``max_tokens`` tokens;
* ``stream: true`` -> ``text/event-stream`` with ``max_tokens`` chunks of about
  250 bytes (``data: {...}\\n\\n``), then ``data: [DONE]``. Each SSE event travels in
  its own HTTP/1.1 chunk (``Transfer-Encoding: chunked``), as a real token stream
  would, so every client sees one event per read. The whole body of a fast stream is
  written at once: the per-chunk cost measured is the client's, not the pacing's.
  Every chunk carries ``"finish_reason": "stop"``: the official SDK rejects a chunk
  whose ``finish_reason`` is null, and every client gets the same
  bytes.
* a model whose name contains ``paced`` -> the same stream, one chunk every
  ``--paced-interval`` seconds (default 2 ms), the first at once: tokens arriving
  one per read, as from a real model;
* a model whose name contains ``slow`` -> the same, every ``--slow-interval``
  seconds (default 10 s): the memory scenario holds such streams open;
* a model whose name contains ``stamped-<ms>`` (``openai/stamped-20-...``) -> the
  same, one chunk every ``<ms>`` milliseconds, each chunk's ``created`` field
  replaced by the time it is written: ``time.monotonic_ns()`` taken right before
  the write (Linux ``CLOCK_MONOTONIC``, the same clock in every process), so a
  client can tell how long an event took from the server's write to its
  ``async for`` (the latency scenario).

``POST /v2/router/chat/completions`` (``stream: true`` only) answers with
``chat.completion.chunk`` events, one per HTTP chunk, the whole body at once:

* by default, a *content* stream: a role chunk (``delta: {"role": "assistant",
  "content": ""}``), then ``max_completion_tokens`` chunks of one
  ``delta.content`` word each, then a finish chunk (``delta: {}``,
  ``finish_reason: "stop"``);
* a model whose name contains ``tool`` -> a *tool-call* stream: a first chunk with
  the role and the call's ``id``, ``type`` and ``function.name`` (``arguments``
  empty), then ``max_completion_tokens`` chunks each carrying one piece of the
  call's JSON arguments (:func:`tool_arguments`), then a finish chunk
  (``finish_reason: "tool_calls"``);
* with ``stream_options.include_usage``, every chunk carries ``"usage": null``
  and one more, usage-only chunk follows the finish chunk (``choices: []``).

Keep-alive is supported (one request at a time per connection). No pipelining, no
request ``Transfer-Encoding: chunked`` (none of the benchmarked clients sends it).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import sys
import time
from typing import Final

import msgspec

CREATED: Final = 1735689600
CHUNK_ID: Final = "cmpl-01JKQ3V6YV4T8M2W9ZC1H5N7PB"
MODEL: Final = "gpt-3.5-turbo-instruct"
FINGERPRINT: Final = "fp_3f1c2b9a77"
WORDS: Final = (
    " the", " quick", " brown", " fox", " jumps", " over", " lazy", " dog", ",",
    " and", " then", " it", " rests", " beside", " a", " river", ".", " Hello",
    " world", "!",
)  # fmt: skip


CHAT_ID: Final = "chatcmpl-01JKQ9ZP3F6V8W2X4Y7B9C1D3E"
CHAT_MODEL: Final = "gpt-4o-2024-08-06"
TOOL_CALL_ID: Final = "call_01JKQ9ZP3F6V8W2X"
TOOL_NAME: Final = "search_flights"


class _StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class _Body(msgspec.Struct):
    """The request fields the server looks at; the rest is ignored."""

    model: str = ""
    max_tokens: int | float | None = 16
    max_completion_tokens: int | float | None = None
    stream: bool | None = False
    stream_options: _StreamOptions | None = None


_BODY_DECODER = msgspec.json.Decoder(_Body)


def chunk_payload(i: int, n: int) -> bytes:
    """The JSON of chunk ``i`` of ``n``: about 250 bytes, usage on the last one."""
    chunk: dict[str, object] = {
        "id": CHUNK_ID,
        "object": "text_completion",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": FINGERPRINT,
        "choices": [
            {
                "text": WORDS[i % len(WORDS)],
                "index": 0,
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    if i == n - 1:
        chunk["usage"] = {
            "prompt_tokens": 4,
            "completion_tokens": n,
            "total_tokens": n + 4,
        }
    return msgspec.json.encode(chunk)


def tool_arguments(pieces: int) -> list[str]:
    """The JSON arguments of the benchmark's tool call, cut into ``pieces``
    pieces of about 9 characters (cuts fall anywhere, even inside a string)."""
    legs = [
        {"from": "AMS", "to": "JFK", "date": f"2025-03-{1 + i % 28:02d}"}
        for i in range(max(1, pieces // 6))
    ]
    text = msgspec.json.encode({"passengers": 2, "cabin": "economy", "legs": legs})
    whole = text.decode()
    cuts = [i * len(whole) // pieces for i in range(pieces + 1)]
    return [whole[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def _chat_chunk(
    choices: list[dict[str, object]], usage: bool, usage_value: object = None
) -> bytes:
    chunk: dict[str, object] = {
        "id": CHAT_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": CHAT_MODEL,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if usage:
        chunk["usage"] = usage_value
    return msgspec.json.encode(chunk)


def _delta(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


def chat_payloads(n: int, tool: bool, usage: bool) -> list[bytes]:
    """The JSON of every chunk of a chat stream with ``n`` content deltas (or
    ``n`` argument pieces of one tool call), without ``[DONE]``."""
    if tool:
        call = {
            "index": 0,
            "id": TOOL_CALL_ID,
            "type": "function",
            "function": {"name": TOOL_NAME, "arguments": ""},
        }
        first = {"role": "assistant", "content": None, "tool_calls": [call]}
        body = [
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            for piece in tool_arguments(n)
        ]
        finish = "tool_calls"
    else:
        first = {"role": "assistant", "content": ""}
        body = [{"content": WORDS[i % len(WORDS)]} for i in range(n)]
        finish = "stop"
    out = [_chat_chunk([_delta(first)], usage)]
    out += [_chat_chunk([_delta(d)], usage) for d in body]
    out.append(_chat_chunk([_delta({}, finish)], usage))
    if usage:
        totals = {
            "prompt_tokens": 12,
            "completion_tokens": n,
            "total_tokens": n + 12,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        out.append(_chat_chunk([], True, totals))
    return out


def sse_frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STREAM_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"X-Request-Id: bench\r\n"
    b"\r\n"
)
DONE_AND_END: Final = http_chunk(sse_frame(b"[DONE]")) + b"0\r\n\r\n"


class Responses:
    """Pre-encoded responses, built once per ``max_tokens`` value."""

    def __init__(self) -> None:
        self._json: dict[int, bytes] = {}
        self._stream: dict[int, bytes] = {}
        self._chunks: dict[int, list[bytes]] = {}
        self._chat: dict[tuple[int, bool, bool], bytes] = {}

    def chunks(self, n: int) -> list[bytes]:
        """The HTTP chunks of an ``n``-token stream (the SSE events, no [DONE])."""
        got = self._chunks.get(n)
        if got is None:
            got = [http_chunk(sse_frame(chunk_payload(i, n))) for i in range(n)]
            self._chunks[n] = got
        return got

    def stream(self, n: int) -> bytes:
        """The whole response of a fast ``n``-token stream, head to last chunk."""
        got = self._stream.get(n)
        if got is None:
            got = STREAM_HEAD + b"".join(self.chunks(n)) + DONE_AND_END
            self._stream[n] = got
        return got

    def chat_stream(self, n: int, tool: bool, usage: bool) -> bytes:
        """The whole response of a chat stream (see :func:`chat_payloads`)."""
        key = (n, tool, usage)
        got = self._chat.get(key)
        if got is None:
            frames = [http_chunk(sse_frame(p)) for p in chat_payloads(n, tool, usage)]
            got = self._chat[key] = STREAM_HEAD + b"".join(frames) + DONE_AND_END
        return got

    def json(self, n: int) -> bytes:
        """The whole response of a non-streamed ``n``-token completion."""
        got = self._json.get(n)
        if got is None:
            body = msgspec.json.encode(
                {
                    "id": CHUNK_ID,
                    "object": "text_completion",
                    "created": CREATED,
                    "model": MODEL,
                    "system_fingerprint": FINGERPRINT,
                    "choices": [
                        {
                            "text": "".join(WORDS[i % len(WORDS)] for i in range(n)),
                            "index": 0,
                            "logprobs": None,
                            "finish_reason": "length",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 4,
                        "completion_tokens": n,
                        "total_tokens": n + 4,
                        "prompt_tokens_details": {
                            "cached_tokens": 0,
                            "audio_tokens": 0,
                        },
                        "completion_tokens_details": {
                            "reasoning_tokens": 0,
                            "audio_tokens": 0,
                            "accepted_prediction_tokens": 0,
                            "rejected_prediction_tokens": 0,
                        },
                    },
                }
            )
            got = (
                b"HTTP/1.1 200 OK\r\n"
                b"Content-Type: application/json\r\n"
                b"X-Request-Id: bench\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            ) + body
            self._json[n] = got
        return got


RESPONSES = Responses()
_STAMPED = re.compile(r"stamped-(\d+)")
_CREATED: Final = b'"created":%d' % CREATED


_TEMPLATES: dict[int, list[tuple[bytes, bytes]]] = {}


def stamped_templates(n: int) -> list[tuple[bytes, bytes]]:
    """Each chunk's SSE frame of an ``n``-token stream, cut where its
    ``created`` value goes: ``(before, after)``."""
    out = _TEMPLATES.get(n)
    if out is None:
        out = _TEMPLATES[n] = []
        for i in range(n):
            before, after = sse_frame(chunk_payload(i, n)).split(_CREATED)
            out.append((before + b'"created":', after))
    return out


NOT_FOUND: Final = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
    b'Content-Length: 34\r\n\r\n{"error":{"message":"not found"}}\n'
)
BAD_REQUEST: Final = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
    b'Content-Length: 36\r\n\r\n{"error":{"message":"bad request"}}\n'
)


class HTTPServerProtocol(asyncio.Protocol):
    """One connection: parse a request, answer it, repeat (keep-alive)."""

    slow_interval = 10.0
    paced_interval = 0.002

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._busy = False  # a slow stream is being written
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; same methods.
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._busy:
            self._process()

    def _process(self) -> None:
        buf = self._buf
        transport = self._transport
        while transport is not None and not self._busy:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            chat = path.endswith("/v2/router/chat/completions")
            if method != "POST" or not (
                chat or path.endswith("/v2/router/completions")
            ):
                transport.write(NOT_FOUND)
                continue
            try:
                req = _BODY_DECODER.decode(body)
            except msgspec.DecodeError:
                transport.write(BAD_REQUEST)
                continue
            if chat:
                if not req.stream:
                    transport.write(BAD_REQUEST)
                    continue
                n = int(req.max_completion_tokens or req.max_tokens or 16)
                options = req.stream_options
                usage = options is not None and bool(options.include_usage)
                transport.write(RESPONSES.chat_stream(n, "tool" in req.model, usage))
                continue
            n = int(req.max_tokens or 16)
            if not req.stream:
                transport.write(RESPONSES.json(n))
            elif (stamped := _STAMPED.search(req.model)) is not None:
                self._busy = True
                self._task = asyncio.ensure_future(
                    self._stamped_stream(n, int(stamped.group(1)) / 1000)
                )
            elif "slow" in req.model or "paced" in req.model:
                interval = (
                    self.slow_interval if "slow" in req.model else self.paced_interval
                )
                self._busy = True
                self._task = asyncio.ensure_future(self._slow_stream(n, interval))
            else:
                transport.write(RESPONSES.stream(n))

    async def _slow_stream(self, n: int, interval: float) -> None:
        chunks = RESPONSES.chunks(n)
        try:
            transport = self._transport
            if transport is None:
                return
            transport.write(STREAM_HEAD + chunks[0])
            for chunk in chunks[1:]:
                await asyncio.sleep(interval)
                transport = self._transport
                if transport is None or transport.is_closing():
                    return
                transport.write(chunk)
            transport.write(DONE_AND_END)
        finally:
            self._busy = False
            self._task = None
        if self._transport is not None:
            self._process()

    async def _stamped_stream(self, n: int, interval: float) -> None:
        now = time.monotonic_ns
        try:
            for i, (before, after) in enumerate(stamped_templates(n)):
                if i:
                    await asyncio.sleep(interval)
                transport = self._transport
                if transport is None or transport.is_closing():
                    return
                frame = http_chunk(b"%s%d%s" % (before, now(), after))
                transport.write(STREAM_HEAD + frame if i == 0 else frame)
            transport.write(DONE_AND_END)
        finally:
            self._busy = False
            self._task = None
        if self._transport is not None:
            self._process()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        HTTPServerProtocol, host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    loop_name = type(loop).__module__.split(".")[0]
    print(f"READY {bound} {loop_name}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--slow-interval",
        type=float,
        default=10.0,
        help="seconds between chunks of a 'slow' model's stream",
    )
    parser.add_argument(
        "--paced-interval",
        type=float,
        default=0.002,
        help="seconds between chunks of a 'paced' model's stream",
    )
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    HTTPServerProtocol.slow_interval = args.slow_interval
    HTTPServerProtocol.paced_interval = args.paced_interval
    raise_fd_limit()
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            print("uvloop not installed: using the asyncio loop", file=sys.stderr)
        else:
            runner = uvloop.run  # type: ignore[assignment]
    try:
        runner(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
